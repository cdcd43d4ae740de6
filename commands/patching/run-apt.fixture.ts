import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A tiny apt repository on this machine, for the end-to-end patch test: `warden-test-dummy` 1.0 in
 * a `bookworm-warden` suite and 1.1 in `bookworm-security` (the suite name is what marks an apt
 * update as security), both built with `dpkg-deb`, indexed by hand (Packages and Release with
 * SHA256 sums, unsigned: the sources entry says `[trusted=yes]`). 1.0 is installed with `dpkg -i`.
 * `cleanup()` purges the package and removes the sources file, the lists and the files, and is
 * safe to call after a partial setup.
 */

export const DUMMY = 'warden-test-dummy';
export const SOURCES_FILE = '/etc/apt/sources.list.d/warden-test.list';
/** The file each version installs, holding its version. */
export const VERSION_FILE = `/usr/share/${DUMMY}/version`;

export interface AptRepo {
  dir: string;
  /** An apt.conf that limits apt to the test sources (set as APT_CONFIG for the scan and installs). */
  aptConf: string;
  cleanup(): void;
}

/** Null when the test can run here, else why not. */
export function aptRepoUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'it installs a package: run the tests as root';
  for (const tool of ['dpkg-deb', 'apt-get', 'dpkg']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      return `${tool} is not installed (.ci/run installs dpkg-dev)`;
    }
  }
  return null;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function buildDeb(dir: string, version: string): string {
  const root = path.join(dir, `build-${version}`);
  mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  mkdirSync(path.join(root, path.dirname(VERSION_FILE)), { recursive: true });
  writeFileSync(
    path.join(root, 'DEBIAN', 'control'),
    [
      `Package: ${DUMMY}`,
      `Version: ${version}`,
      'Architecture: all',
      'Maintainer: Warden tests <tests@warden.invalid>',
      'Description: dummy package for Warden patch tests',
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(root, VERSION_FILE), `${version}\n`);
  const deb = path.join(dir, 'repo', 'pool', `${DUMMY}_${version}_all.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', root, deb], { stdio: 'ignore' });
  return deb;
}

function publish(dir: string, suite: string, deb: string, arch: string): void {
  const index = path.join(dir, 'repo', 'dists', suite, 'main', `binary-${arch}`);
  mkdirSync(index, { recursive: true });
  const packages = path.join(index, 'Packages');
  // The stanza is the package's own control fields (dpkg-deb computed Installed-Size), so apt sees
  // the installed package and the repository's as the same version; then where to fetch it.
  const control = execFileSync('dpkg-deb', ['--field', deb], { encoding: 'utf8' }).trimEnd();
  writeFileSync(
    packages,
    [
      control,
      `Filename: pool/${path.basename(deb)}`,
      `Size: ${statSync(deb).size}`,
      `SHA256: ${sha256(deb)}`,
      '',
      '',
    ].join('\n'),
  );
  writeFileSync(
    path.join(dir, 'repo', 'dists', suite, 'Release'),
    [
      'Origin: Warden-Test',
      'Label: Warden-Test',
      `Suite: ${suite}`,
      `Codename: ${suite}`,
      `Date: ${new Date().toUTCString()}`,
      `Architectures: ${arch}`,
      'Components: main',
      'SHA256:',
      ` ${sha256(packages)} ${statSync(packages).size} main/binary-${arch}/Packages`,
      '',
    ].join('\n'),
  );
}

function purge(): void {
  spawnSync('dpkg', ['--purge', DUMMY], { stdio: 'ignore' });
}

export function createAptRepo(): AptRepo {
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-apt-'));
  const mangled = `${dir.replace(/^\//, '').replaceAll('/', '_')}_repo_`;
  const cleanup = (): void => {
    purge();
    rmSync(SOURCES_FILE, { force: true });
    for (const name of existsSync('/var/lib/apt/lists') ? readdirSync('/var/lib/apt/lists') : []) {
      if (name.startsWith(`_${mangled}`) || name.startsWith(mangled))
        rmSync(path.join('/var/lib/apt/lists', name), { force: true });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // apt reads file: repositories as its unprivileged _apt user where it can.
    chmodSync(dir, 0o755);
    mkdirSync(path.join(dir, 'repo', 'pool'), { recursive: true });
    const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
    const old = buildDeb(dir, '1.0');
    const fresh = buildDeb(dir, '1.1');
    publish(dir, 'bookworm-warden', old, arch);
    publish(dir, 'bookworm-security', fresh, arch);
    writeFileSync(
      SOURCES_FILE,
      [
        '# Warden patch test repository; removed by the test.',
        `deb [trusted=yes] file:${dir}/repo bookworm-warden main`,
        `deb [trusted=yes] file:${dir}/repo bookworm-security main`,
        '',
      ].join('\n'),
    );
    const aptConf = path.join(dir, 'apt.conf');
    writeFileSync(
      aptConf,
      [
        `Dir::Etc::sourcelist "${SOURCES_FILE}";`,
        'Dir::Etc::sourceparts "-";',
        'APT::Get::List-Cleanup "0";',
        '',
      ].join('\n'),
    );
    execFileSync(
      'apt-get',
      [
        'update',
        '-q',
        '-o',
        `Dir::Etc::sourcelist=${SOURCES_FILE}`,
        '-o',
        'Dir::Etc::sourceparts=-',
        '-o',
        'APT::Get::List-Cleanup=0',
      ],
      { stdio: 'ignore' },
    );
    purge();
    const installed = path.join(dir, `${DUMMY}_1.0_all.deb`);
    copyFileSync(old, installed);
    execFileSync('dpkg', ['-i', installed], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return { dir, aptConf, cleanup };
  } catch (error) {
    cleanup();
    throw error;
  }
}

/** The dummy's installed version, read with dpkg-query outside Warden; null when not installed. */
export function installedDummy(): string | null {
  const out = spawnSync('dpkg-query', ['-W', '--showformat', '$' + '{Status}|$' + '{Version}', DUMMY], {
    encoding: 'utf8',
  });
  const [status, version] = out.stdout.split('|');
  return out.status === 0 && status === 'install ok installed' ? (version ?? null) : null;
}
