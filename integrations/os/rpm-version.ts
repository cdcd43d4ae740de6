/**
 * rpm version ordering (the rpmvercmp rules): alternating numeric and alphabetic segments,
 * numbers beat letters, `~` sorts before everything (pre-releases), `^` after the end but before
 * anything else (post-release snapshots). Used to pick the newest of several installed kernels.
 */
export function rpmVersionCompare(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  const separator = (c: string | undefined) => c !== undefined && !/[A-Za-z0-9~^]/.test(c);
  while (i < a.length || j < b.length) {
    while (separator(a[i])) i++;
    while (separator(b[j])) j++;
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (i >= a.length || j >= b.length) break;
    const numeric = /[0-9]/.test(a[i]!);
    const pattern = numeric ? /^[0-9]+/ : /^[A-Za-z]+/;
    const segA = pattern.exec(a.slice(i))?.[0] ?? '';
    const segB = pattern.exec(b.slice(j))?.[0] ?? '';
    i += segA.length;
    j += segB.length;
    // Segments of different kinds: a number is newer than letters.
    if (segB === '') return numeric ? 1 : -1;
    if (numeric) {
      const na = segA.replace(/^0+/, '');
      const nb = segB.replace(/^0+/, '');
      if (na.length !== nb.length) return na.length > nb.length ? 1 : -1;
      if (na !== nb) return na > nb ? 1 : -1;
    } else if (segA !== segB) {
      return segA > segB ? 1 : -1;
    }
  }
  const restA = i < a.length;
  const restB = j < b.length;
  if (!restA && !restB) return 0;
  return restA ? 1 : -1;
}

export interface Evr {
  epoch: number;
  version: string;
  release: string;
}

/** Splits `[epoch:]version[-release]`. */
export function parseEvr(evr: string): Evr {
  const colon = evr.indexOf(':');
  const epochText = colon > 0 ? evr.slice(0, colon) : '';
  const rest = colon > 0 ? evr.slice(colon + 1) : evr;
  const dash = rest.lastIndexOf('-');
  return {
    epoch: /^\d+$/.test(epochText) ? Number(epochText) : 0,
    version: dash >= 0 ? rest.slice(0, dash) : rest,
    release: dash >= 0 ? rest.slice(dash + 1) : '',
  };
}

export function evrCompare(a: string, b: string): number {
  const x = parseEvr(a);
  const y = parseEvr(b);
  if (x.epoch !== y.epoch) return x.epoch > y.epoch ? 1 : -1;
  return rpmVersionCompare(x.version, y.version) || rpmVersionCompare(x.release, y.release);
}

/** `0:1.2-3` → `1.2-3`: the form dnf and zypper print, so installed and candidate read alike. */
export function dropZeroEpoch(evr: string): string {
  return evr.startsWith('0:') ? evr.slice(2) : evr;
}

export interface Nevra {
  name: string;
  evr: string;
  arch: string;
}

/** Splits `name-[epoch:]version-release.arch` as dnf and yum print it; null when it is not one. */
export function parseNevra(text: string): Nevra | null {
  const dot = text.lastIndexOf('.');
  if (dot <= 0) return null;
  const arch = text.slice(dot + 1);
  const nevr = text.slice(0, dot);
  const releaseDash = nevr.lastIndexOf('-');
  if (releaseDash <= 0) return null;
  const versionDash = nevr.lastIndexOf('-', releaseDash - 1);
  if (versionDash <= 0) return null;
  const name = nevr.slice(0, versionDash);
  const evr = nevr.slice(versionDash + 1);
  if (!/^[a-z0-9_]+$/.test(arch) || !/^(\d+:)?[^:\s-]+-[^:\s-]+$/.test(evr) || /\s/.test(name)) return null;
  return { name, evr, arch };
}
