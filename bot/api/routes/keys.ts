import type { Context } from 'hono';
import { z } from 'zod';
import { type AuditReport, buildAuditReport } from '../../../commands/audit/report.js';
import { toCsv } from '../../../commands/audit/report-csv.js';
import type { Deps } from '../../../commands/deps.js';
import { ProjectSlug } from '../../../commands/inventory/schema.js';
import { handoverKey } from '../../../commands/keys/handover.js';
import { addUserKey } from '../../../commands/keys/register.js';
import { type KeyStatus, keysStatus } from '../../../commands/keys/status.js';
import { AppError } from '../../../lib/errors.js';
import type { AppEnv } from '../../http/context.js';
import { authenticateRequest, requirePermission } from '../auth.js';
import { type ApiRoute, defineRoute } from '../registry.js';

/**
 * The key registry and the post-action audit report over the REST API. Chat and the API call the
 * same commands (commands/keys, commands/audit/report.ts).
 */
const Timestamp = z.iso.datetime();
const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);
const Fingerprint = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{12,43}$/, 'a fingerprint is SHA256:… (at least 12 characters)');

export const KeyView = z.object({
  id: z.int(),
  kind: z.enum(['service', 'user', 'ca']),
  owner: z.string(),
  fingerprint: z.string(),
  type: z.string(),
  bits: z.int(),
  purpose: z.string(),
  project: z.string().nullable(),
  installedOn: z.array(
    z.object({
      server: z.string(),
      login: z.string(),
      installedAt: Timestamp,
      verifiedAt: Timestamp.nullable(),
    }),
  ),
  createdAt: Timestamp,
  lastUsedAt: Timestamp.nullable(),
  lastRotatedAt: Timestamp,
  rotationPolicy: z.string(),
  nextRotationAt: Timestamp.nullable(),
  overdue: z.boolean(),
  retiredAt: Timestamp.nullable(),
});

export function keyView(k: KeyStatus): z.input<typeof KeyView> {
  return {
    id: k.id,
    kind: k.kind,
    owner: k.owner,
    fingerprint: k.fingerprint,
    type: k.type,
    bits: k.bits,
    purpose: k.purpose,
    project: k.project,
    installedOn: k.installedOn.map((i) => ({
      ...i,
      installedAt: iso(i.installedAt),
      verifiedAt: isoOrNull(i.verifiedAt),
    })),
    createdAt: iso(k.createdAt),
    lastUsedAt: isoOrNull(k.lastUsedAt),
    lastRotatedAt: iso(k.lastRotatedAt),
    rotationPolicy: k.rotationPolicy,
    nextRotationAt: isoOrNull(k.nextRotationAt),
    overdue: k.overdue,
    retiredAt: isoOrNull(k.retiredAt),
  };
}

async function statusOf(deps: Deps, actor: Parameters<typeof keysStatus>[1], fingerprint: string) {
  const rows = await keysStatus(deps, actor, { includeRetired: true });
  const row = rows.find((r) => r.fingerprint === fingerprint);
  if (!row) throw new AppError('internal', 'the key just written is not visible to its writer');
  return keyView(row);
}

const ReportQuery = z
  .object({
    project: ProjectSlug.optional(),
    server: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/)
      .optional(),
    since: z.iso.datetime({ offset: true }).optional().describe('start of the period (default: 7 days ago)'),
    collect: z.enum(['true', 'false']).optional().describe('false: do not connect to the servers'),
    format: z.enum(['json', 'csv']).optional().describe('csv: one flat table (text/csv)'),
  })
  .strict();

/** The report with dates as ISO strings (what JSON carries). */
export function reportJson(report: AuditReport): Record<string, unknown> {
  return JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
}

async function reportFrom(c: Context<AppEnv>, deps: Deps) {
  const actor = await authenticateRequest(c, deps);
  requirePermission(actor, 'audit:read');
  const parsed = ReportQuery.safeParse(c.req.query());
  if (!parsed.success) {
    throw new AppError(
      'bad_request',
      `the query is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const q = parsed.data;
  if (q.project && q.server) throw new AppError('bad_request', 'give a project or a server, not both');
  return {
    format: q.format ?? 'json',
    report: await buildAuditReport(deps, actor, {
      ...(q.project ? { project: q.project } : {}),
      ...(q.server ? { server: q.server } : {}),
      ...(q.since ? { since: new Date(q.since) } : {}),
      collect: q.collect !== 'false',
    }),
  };
}

const reportRoute: ApiRoute = {
  ...defineRoute({
    method: 'get',
    path: '/audit/report',
    operationId: 'getAuditReport',
    summary: 'Post-action audit report of a project or server (JSON, or CSV with format=csv)',
    description:
      'Commands Warden ran and for whom; logins from sshd logs matched to grants and service keys (others flagged); ' +
      'login-shell accounts and authorized_keys entries Warden does not know; key rotation against policy.',
    tag: 'audit',
    permission: 'audit:read',
    query: ReportQuery,
    response: z.record(z.string(), z.unknown()),
    handler: async () => ({}),
  }),
  async handle(c, deps) {
    const { format, report } = await reportFrom(c, deps);
    if (format === 'csv') {
      const name = (report.scope.server ?? report.scope.project ?? 'all').replace(/[^A-Za-z0-9._-]/g, '_');
      return c.body(toCsv(report), 200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="warden-audit-${name}.csv"`,
      });
    }
    return c.json(reportJson(report));
  },
};

export const keyRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/keys',
    operationId: 'listKeys',
    summary:
      'Keys you may see: owner, fingerprint, where installed, last used, next rotation (overdue marked)',
    tag: 'keys',
    permission: null,
    query: z
      .object({ project: ProjectSlug.optional(), retired: z.enum(['true', 'false']).optional() })
      .strict(),
    response: z.object({ items: z.array(KeyView) }),
    handler: async ({ query, deps, actor }) => {
      const rows = await keysStatus(deps, actor, {
        ...(query.project ? { project: query.project } : {}),
        includeRetired: query.retired === 'true',
      });
      return { items: rows.map(keyView) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/keys',
    operationId: 'registerKey',
    summary: 'Register your own SSH public key (ed25519, ECDSA, or RSA of 3072 bits or more)',
    tag: 'keys',
    permission: 'access:request',
    body: z.object({ publicKey: z.string().max(16_384), purpose: z.string().max(200).optional() }).strict(),
    response: KeyView,
    status: 201,
    handler: async ({ body, deps, actor, meta }) => {
      const key = await addUserKey(deps, actor, body, meta);
      return statusOf(deps, actor, key.fingerprint);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/keys/handover',
    operationId: 'handOverKey',
    summary: 'Give a key a new owner (audited)',
    tag: 'keys',
    permission: 'keys:manage',
    body: z
      .object({ fingerprint: Fingerprint, to: z.string().max(80), reason: z.string().max(500).optional() })
      .strict(),
    response: z.object({ fingerprint: z.string(), owner: z.string() }),
    handler: async ({ body, deps, actor, meta }) => {
      const key = await handoverKey(deps, actor, body, meta);
      return { fingerprint: key.fingerprint, owner: key.ownerHandle };
    },
  }),
  reportRoute,
];
