import type { Target } from '../../integrations/targets/types.js';
import { AppError } from '../../lib/errors.js';
import { listGrantsOnServers } from '../../storage/audit-report.js';
import { saveKeyAudits } from '../../storage/compliance.js';
import { withTx } from '../../storage/db.js';
import { getProjectBySlug, getServerByName, listServers, type Server } from '../../storage/inventory.js';
import {
  listAllKeys,
  listLiveInstallationsOnServers,
  listPolicyProjects,
  markKeysUsed,
} from '../../storage/keys.js';
import type { Deps } from '../deps.js';
import { projectNotFound } from '../inventory/projects.js';
import { actorRef, projectsWith } from '../inventory/scope.js';
import { openServiceTarget, serviceLogin } from '../keys/connect.js';
import { eachLimited } from '../keys/limit.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { authLogPaths, collectEvidence, type ServerEvidence } from './report-collect.js';
import { accountKnown, matchAuthorizedKey, matchLogin, type ServerKnowledge } from './report-match.js';
import { commandRows, keyRows } from './report-sections.js';
import type {
  AccountRow,
  AuditReport,
  AuditReportInput,
  AuthorizedKeyRow,
  Finding,
  LoginRow,
  ServerRow,
} from './report-types.js';
import { recordEvent } from './trail.js';

export type * from './report-types.js';

/**
 * The post-action audit report, per project or server: (a) which commands and scripts Warden ran
 * where and for whom (trail and scans), (b) who logged in where under which grant (sshd's
 * "Accepted publickey" lines, matched to grant and service keys; anything else flagged), (c) the
 * login-shell accounts and authorized_keys entries on each server that Warden does not know
 * (findings, with the server's owner to chase), (d) each key's last rotation against its policy.
 * Chat shows a summary (report-chat.ts); the API returns it as JSON or CSV (report-csv.ts).
 */
export const DEFAULT_SINCE_MS = 7 * 86_400_000;
const MAX_SERVERS = 500;
const COLLECT_CONCURRENCY = 4;

export interface ReportOptions {
  /** How to reach a server; default: the scanning core's target factory, else its service key. */
  openTarget?: (server: Server) => Promise<Target>;
}

async function scopeOf(deps: Deps, actor: Actor, input: AuditReportInput) {
  if (input.server !== undefined) {
    const server = await getServerByName(deps.sql, input.server);
    if (!server)
      throw new AppError('not_found', `There is no server "${input.server}"; /warden servers lists them.`);
    authorize(
      actor,
      'audit:read',
      server.projectId === null ? null : { id: server.projectId, slug: server.projectSlug! },
    );
    return { project: server.projectSlug, server: server.name, servers: [server] };
  }
  if (input.project !== undefined) {
    const project = await getProjectBySlug(deps.sql, input.project);
    if (!project) throw projectNotFound(input.project);
    authorize(actor, 'audit:read', project);
    const servers = await listServers(deps.sql, {
      projectIds: null,
      projectId: project.id,
      limit: MAX_SERVERS + 1,
    });
    return { project: project.slug, server: null, servers };
  }
  const ids = projectsWith(actor, 'audit:read');
  if (ids !== null && ids.length === 0) authorize(actor, 'audit:read', null);
  const servers = await listServers(deps.sql, { projectIds: ids, limit: MAX_SERVERS + 1 });
  return { project: null, server: null, servers };
}

async function openFor(deps: Deps, server: Server, options: ReportOptions): Promise<Target> {
  if (options.openTarget) return options.openTarget(server);
  if (deps.targets) return deps.targets.forServer(server, deps);
  return openServiceTarget(deps, server);
}

export async function buildAuditReport(
  deps: Deps,
  actor: Actor,
  input: AuditReportInput = {},
  options: ReportOptions = {},
): Promise<AuditReport> {
  const scope = await scopeOf(deps, actor, input);
  if (scope.servers.length > MAX_SERVERS) {
    throw new AppError(
      'bad_request',
      `That covers more than ${MAX_SERVERS} servers; report one project at a time.`,
    );
  }
  const now = deps.clock.now();
  const since = input.since ?? new Date(now.getTime() - DEFAULT_SINCE_MS);
  if (since > now)
    throw new AppError('bad_request', 'The report starts in the future; give a time in the past.');
  const servers = scope.servers;
  const serverIds = servers.map((s) => s.id);
  const [keys, installations, grants] = await Promise.all([
    listAllKeys(deps.sql),
    listLiveInstallationsOnServers(deps.sql, serverIds),
    listGrantsOnServers(deps.sql, serverIds),
  ]);
  const projects = new Map(
    (
      await listPolicyProjects(deps.sql, [
        ...new Set(servers.map((s) => s.projectId).filter((p): p is number => p !== null)),
      ])
    ).map((p) => [p.id, p]),
  );
  const keysByFingerprint = new Map(keys.map((k) => [k.fingerprint, k]));
  const keysById = new Map(keys.map((k) => [k.id, k]));

  const report: AuditReport = {
    generatedAt: now,
    since,
    scope: { project: scope.project, server: scope.server },
    servers: [],
    commands: [],
    logins: [],
    accounts: [],
    authorizedKeys: [],
    keys: [],
    findings: [],
  };
  const finding = (f: Finding) => report.findings.push(f);

  const evidence =
    input.collect === false
      ? servers.map(() => undefined)
      : await eachLimited(servers, COLLECT_CONCURRENCY, async (server): Promise<ServerEvidence | Error> => {
          let target: Target | undefined;
          try {
            target = await openFor(deps, server, options);
            const settings = server.projectId === null ? undefined : projects.get(server.projectId)?.settings;
            return await collectEvidence(target, server, { since, now, logPaths: authLogPaths(settings) });
          } catch (error) {
            return error instanceof Error ? error : new Error(String(error));
          } finally {
            await target?.close().catch(() => undefined);
          }
        });

  servers.forEach((server, i) => {
    const got = evidence[i];
    const chase = server.ownerHandle;
    const row: ServerRow = {
      name: server.name,
      project: server.projectSlug,
      owner: chase,
      collected: false,
      gaps: [],
    };
    report.servers.push(row);
    if (got === undefined) return;
    if (got instanceof Error) {
      row.gaps.push(`not collected: ${got.message.slice(0, 300)}`);
      finding({
        severity: 'medium',
        server: server.name,
        subject: 'collection',
        message: `could not read the server: ${got.message.slice(0, 300)}`,
        chase,
      });
      return;
    }
    row.collected = true;
    row.gaps.push(...got.gaps);
    const settings = server.projectId === null ? undefined : projects.get(server.projectId)?.settings;
    const declared = (settings?.audit as { knownLogins?: unknown } | undefined)?.knownLogins;
    const knowledge: ServerKnowledge = {
      serverId: server.id,
      keysByFingerprint,
      grants: grants.filter((g) => g.serverId === server.id),
      serviceLogins: new Set([
        serviceLogin(server).login,
        ...installations
          .filter((x) => x.serverId === server.id && keysById.get(x.keyId)?.kind === 'service')
          .map((x) => x.login),
      ]),
      declaredLogins: new Set(
        Array.isArray(declared) ? declared.filter((d): d is string => typeof d === 'string') : [],
      ),
    };
    for (const login of got.logins.logins) {
      const m = matchLogin(login, knowledge);
      const r: LoginRow = {
        server: server.name,
        at: login.at,
        login: login.user,
        from: login.from,
        port: login.port,
        keyType: login.keyType,
        fingerprint: login.fingerprint,
        ...m,
      };
      report.logins.push(r);
      if (m.flagged)
        finding({
          severity: 'high',
          server: server.name,
          subject: `login ${login.user} from ${login.from}`,
          message: m.note,
          chase,
        });
    }
    for (const account of got.accounts.accounts.filter((a) => a.loginShell)) {
      const k = accountKnown(account, knowledge);
      const r: AccountRow = {
        server: server.name,
        user: account.user,
        uid: account.uid,
        shell: account.shell,
        home: account.home,
        known: k.known,
        note: k.why,
      };
      report.accounts.push(r);
      if (!k.known)
        finding({
          severity: 'medium',
          server: server.name,
          subject: `account ${account.user}`,
          message: `${k.why} (shell ${account.shell})`,
          chase,
        });
    }
    for (const entry of got.accounts.keys) {
      const m = matchAuthorizedKey(entry, knowledge, now);
      const r: AuthorizedKeyRow = {
        server: server.name,
        login: entry.user,
        file: entry.file,
        line: entry.line,
        type: entry.type,
        fingerprint: entry.fingerprint,
        comment: entry.comment,
        tag: entry.tag,
        ...m,
      };
      report.authorizedKeys.push(r);
      if (m.flagged) {
        finding({
          severity: m.match === 'unknown' ? 'high' : 'medium',
          server: server.name,
          subject: `authorized key ${entry.fingerprint ?? `line ${entry.line}`} for ${entry.user}`,
          message: m.note,
          chase,
        });
      }
    }
  });

  report.commands = await commandRows(deps, {
    servers,
    projectIds:
      scope.project === null && scope.server === null
        ? projectsWith(actor, 'audit:read')
        : [...projects.keys()],
    since,
  });
  report.keys = await keyRows(deps, {
    keys,
    installations,
    logins: report.logins,
    scopeProjectIds: [...projects.keys()],
    wholeFleet: scope.project === null && scope.server === null && projectsWith(actor, 'audit:read') === null,
  });
  for (const k of report.keys.filter((x) => x.overdue)) {
    finding({
      severity: 'medium',
      server: null,
      subject: `key ${k.fingerprint}`,
      message: `rotation overdue (${k.rotationPolicy}); last rotated ${k.lastRotatedAt.toISOString()}`,
      chase: k.owner,
    });
  }

  const used = report.logins
    .filter((l) => l.at && l.fingerprint && !l.flagged)
    .map((l) => ({ fingerprint: l.fingerprint!, at: l.at! }));
  await withTx(deps.sql, async (tx) => {
    await markKeysUsed(tx, used);
    // Compliance reads "no unknown authorized keys" from the last audit that read each server.
    const unknownOn = (name: string) =>
      report.authorizedKeys
        .filter((k) => k.server === name && k.match === 'unknown')
        .map((k) => k.fingerprint ?? `${k.file}:${k.line}`);
    await saveKeyAudits(
      tx,
      servers
        .filter((_, i) => report.servers[i]?.collected)
        .map((s) => ({ serverId: s.id, unknownFingerprints: unknownOn(s.name) })),
      now,
    );
    await recordEvent(tx, deps, {
      actor: actorRef(actor),
      action: 'audit.report.collected',
      projectId: servers[0]?.projectId ?? null,
      subject: scope.server
        ? { type: 'server', id: scope.server }
        : scope.project
          ? { type: 'project', id: scope.project }
          : undefined,
      data: {
        since: since.toISOString(),
        findings: report.findings.length,
        exec: report.servers
          .filter((s) => s.collected)
          .flatMap((s) => [
            { server: s.name, argv0: 'sh', script: 'audit accounts' },
            { server: s.name, argv0: 'sh', script: 'audit logins' },
          ]),
      },
    });
  });
  return report;
}
