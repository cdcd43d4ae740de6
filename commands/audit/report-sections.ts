import { listExecEvents, listScanRuns } from '../../storage/audit-report.js';
import type { Server } from '../../storage/inventory.js';
import { type KeyInstallation, type KeyRecord, listLiveInstallations } from '../../storage/keys.js';
import type { Deps } from '../deps.js';
import { statusRows } from '../keys/status.js';
import type { CommandRow, KeyRotationRow, LoginRow } from './report-types.js';

/**
 * Sections (a) and (d) of the audit report, read from Warden's own records: the trail and scans
 * for commands run, the key registry for rotation against policy.
 */
const MAX_EVENTS = 5000;

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value.slice(0, 200) : undefined;
}

/** The `data.exec` convention: one `{ server, argv0, script?, login?, for? }` or a list of them. */
function execEntries(data: Record<string, unknown>): Record<string, unknown>[] {
  const exec = data.exec;
  const list = Array.isArray(exec) ? exec : exec && typeof exec === 'object' ? [exec] : [];
  return list.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null);
}

/** `access.servers-updated` lists servers (names, or objects with `server`) it installed on or removed from. */
function serverNames(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value
    .map((v) => (typeof v === 'string' ? v : text((v as Record<string, unknown> | null)?.server)))
    .filter((v): v is string => v !== undefined);
}

export async function commandRows(
  deps: Pick<Deps, 'sql'>,
  input: { servers: readonly Server[]; projectIds: readonly number[] | null; since: Date },
): Promise<CommandRow[]> {
  const names = new Map(input.servers.map((s) => [s.name, s]));
  const rows: CommandRow[] = [];
  const events = await listExecEvents(deps.sql, {
    projectIds: input.projectIds,
    since: input.since,
    limit: MAX_EVENTS,
  });
  for (const e of events) {
    const ref = `#${e.seq} ${e.action}`;
    for (const x of execEntries(e.data)) {
      const server = text(x.server);
      if (!server || !names.has(server)) continue;
      const argv0 = text(x.argv0) ?? '?';
      const script = text(x.script);
      rows.push({
        at: e.at,
        server,
        command: script ? `${argv0} (${script})` : argv0,
        for: text(x.for) ?? e.actor,
        source: 'trail',
        ref,
      });
    }
    if (e.action === 'access.servers-updated') {
      const grant = e.subjectType === 'grant' ? `grant #${e.subjectId}` : e.actor;
      for (const [field, what] of [
        ['installed', 'add'],
        ['removed', 'remove'],
      ] as const) {
        for (const server of serverNames(e.data[field])) {
          if (names.has(server))
            rows.push({
              at: e.at,
              server,
              command: `sh (authorized-keys ${what})`,
              for: grant,
              source: 'trail',
              ref,
            });
        }
      }
    }
  }
  const scans = await listScanRuns(deps.sql, {
    serverIds: input.servers.map((s) => s.id),
    since: input.since,
    limit: MAX_EVENTS,
  });
  const byId = new Map(input.servers.map((s) => [s.id, s.name]));
  for (const s of scans) {
    rows.push({
      at: s.at,
      server: byId.get(s.serverId) ?? String(s.serverId),
      command: s.method ?? 'scan',
      for: s.requestedRef ?? s.triggeredBy,
      source: 'scan',
      ref: `scan ${s.status}`,
    });
  }
  return rows.sort((a, b) => a.at.getTime() - b.at.getTime());
}

export async function keyRows(
  deps: Pick<Deps, 'sql' | 'clock'>,
  input: {
    keys: readonly KeyRecord[];
    /** Live installations on the report's servers. */
    installations: readonly KeyInstallation[];
    logins: readonly LoginRow[];
    scopeProjectIds: readonly number[];
    wholeFleet: boolean;
  },
): Promise<KeyRotationRow[]> {
  const wanted = new Set<number>();
  for (const i of input.installations) wanted.add(i.keyId);
  for (const l of input.logins) if (l.keyId !== null) wanted.add(l.keyId);
  const relevant = input.keys.filter(
    (k) =>
      input.wholeFleet ||
      wanted.has(k.id) ||
      (k.retiredAt === null &&
        k.kind !== 'user' &&
        k.projectId !== null &&
        input.scopeProjectIds.includes(k.projectId)),
  );
  const live = relevant.filter((k) => k.retiredAt === null || wanted.has(k.id));
  const installations = await listLiveInstallations(
    deps.sql,
    live.map((k) => k.id),
  );
  const rows = await statusRows(deps, live, installations);
  return rows.map((r) => ({
    fingerprint: r.fingerprint,
    kind: r.kind,
    owner: r.owner,
    purpose: r.purpose,
    servers: [...new Set(r.installedOn.map((i) => `${i.login}@${i.server}`))],
    createdAt: r.createdAt,
    lastRotatedAt: r.lastRotatedAt,
    lastUsedAt: r.lastUsedAt,
    rotationPolicy: r.rotationPolicy,
    nextRotationAt: r.nextRotationAt,
    overdue: r.overdue,
    retired: r.retiredAt !== null,
  }));
}
