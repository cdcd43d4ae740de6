import { z } from 'zod';
import { requestCaInstall } from '../../../commands/access/ca-install.js';
import { listAccess, readGrant } from '../../../commands/access/list.js';
import { requestAccess } from '../../../commands/access/request.js';
import { revokeGrant } from '../../../commands/access/revoke.js';
import { ProjectSlug } from '../../../commands/inventory/schema.js';
import { AppError } from '../../../lib/errors.js';
import type { AccessRequest, Grant } from '../../../storage/access.js';
import { type ApiRoute, defineRoute } from '../registry.js';

/** Just-in-time access over the API: ask, list, fetch a certificate, revoke. */
const Timestamp = z.iso.datetime();
const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

const AccessRequestBody = z
  .object({
    target: z.string().min(1).max(128).describe('a server name or a project slug'),
    duration: z.string().min(1).max(20).describe('e.g. 2h, 90m, 1d'),
    login: z.string().max(32).optional().describe('login on the servers (default: the project’s)'),
    ticket: z.string().min(1).max(64),
    reason: z.string().min(1).max(500),
    emergency: z.boolean().optional().describe('break-glass: grant now, alert security, review later'),
    start: z.string().max(40).optional().describe('ISO time the grant starts (default: at approval)'),
    key: z
      .string()
      .max(100)
      .optional()
      .describe('which registered key (fingerprint or id); default the newest'),
  })
  .strict();

const AccessRequestView = z.object({
  id: z.int(),
  status: z.enum(['pending', 'approved', 'denied', 'expired', 'cancelled']),
  approvalId: z.int().nullable(),
  scope: z.enum(['server', 'project']),
  target: z.string(),
  login: z.string(),
  durationMs: z.int(),
  ticket: z.string(),
  reason: z.string(),
  mode: z.enum(['authorized-keys', 'certificate']),
  emergency: z.boolean(),
  extendsGrantId: z.int().nullable(),
  createdAt: Timestamp,
});

const GrantView = z.object({
  id: z.int(),
  requestId: z.int(),
  status: z.enum(['active', 'expired', 'revoked']),
  login: z.string(),
  mode: z.enum(['authorized-keys', 'certificate']),
  keyFingerprint: z.string(),
  ticket: z.string(),
  emergency: z.boolean(),
  startsAt: Timestamp,
  expiresAt: Timestamp,
  endedAt: Timestamp.nullable(),
  certSerial: z.int().nullable(),
});

const CertificateView = z.object({
  grantId: z.int(),
  certificate: z.string().describe('the OpenSSH certificate line; save it as <your key>-cert.pub'),
  serial: z.int(),
  keyId: z.string(),
  login: z.string(),
  validAfter: Timestamp,
  validBefore: Timestamp,
  status: z.enum(['active', 'expired', 'revoked']),
});

function requestView(r: AccessRequest): z.input<typeof AccessRequestView> {
  return {
    id: r.id,
    status: r.status,
    approvalId: r.approvalId,
    scope: r.scope,
    target: r.scopeName,
    login: r.login,
    durationMs: r.durationMs,
    ticket: r.ticket,
    reason: r.reason,
    mode: r.mode,
    emergency: r.emergency,
    extendsGrantId: r.extendsGrantId,
    createdAt: iso(r.createdAt),
  };
}

function grantView(g: Grant): z.input<typeof GrantView> {
  return {
    id: g.id,
    requestId: g.requestId,
    status: g.status,
    login: g.login,
    mode: g.mode,
    keyFingerprint: g.keyFingerprint,
    ticket: g.ticket,
    emergency: g.emergency,
    startsAt: iso(g.startsAt),
    expiresAt: iso(g.expiresAt),
    endedAt: isoOrNull(g.endedAt),
    certSerial: g.certSerial,
  };
}

const GrantParams = z.object({ id: z.coerce.number().int().positive() });

export const accessRoutes: ApiRoute[] = [
  defineRoute({
    method: 'post',
    path: '/access/requests',
    operationId: 'requestAccess',
    summary: 'Ask for time-bound access to a server or project (or break-glass with emergency: true)',
    tag: 'access',
    permission: 'access:request',
    body: AccessRequestBody,
    response: z.object({ request: AccessRequestView, grant: GrantView.nullable() }),
    status: 201,
    handler: async ({ body, deps, actor }) => {
      const outcome = await requestAccess(deps, actor, body);
      return {
        request: requestView(outcome.request),
        grant: outcome.grant ? grantView(outcome.grant) : null,
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/grants',
    operationId: 'listGrants',
    summary: 'Your access requests and grants; approvers also see their projects’',
    tag: 'access',
    permission: null,
    response: z.object({ requests: z.array(AccessRequestView), grants: z.array(GrantView) }),
    handler: async ({ deps, actor }) => {
      const listing = await listAccess(deps, actor);
      return { requests: listing.requests.map(requestView), grants: listing.grants.map(grantView) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/grants/{id}/certificate',
    operationId: 'getGrantCertificate',
    summary: 'The SSH certificate of a certificate-mode grant',
    tag: 'access',
    permission: null,
    params: GrantParams,
    response: CertificateView,
    handler: async ({ params, deps, actor }) => {
      const grant = await readGrant(deps, actor, params.id);
      if (!grant.certificate || grant.certSerial === null || !grant.certKeyId) {
        throw new AppError(
          'not_found',
          `grant #${grant.id} has no certificate (its project uses ${grant.mode})`,
        );
      }
      return {
        grantId: grant.id,
        certificate: grant.certificate,
        serial: grant.certSerial,
        keyId: grant.certKeyId,
        login: grant.login,
        validAfter: iso(grant.startsAt),
        validBefore: iso(grant.expiresAt),
        status: grant.status,
      };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/grants/{id}/revoke',
    operationId: 'revokeGrant',
    summary: 'End a grant now (its requester, an approver of its project, or an admin)',
    tag: 'access',
    permission: null,
    params: GrantParams,
    body: z.object({ reason: z.string().max(500).optional() }).strict(),
    response: GrantView,
    handler: async ({ params, body, deps, actor }) =>
      grantView(await revokeGrant(deps, { actor, grantId: params.id, reason: body.reason ?? null })),
  }),
  defineRoute({
    method: 'post',
    path: '/projects/{slug}/ca-install',
    operationId: 'installCa',
    summary:
      "Queue the install of Warden's SSH user CA (TrustedUserCAKeys, RevokedKeys) on a project's servers",
    description:
      'Answers at once; each server is done afterwards (files, an sshd drop-in when sshd_config includes its ' +
      "directory, sshd -t, reload) and its result goes to the project's channel and the trail. Needs keys:manage.",
    tag: 'access',
    permission: 'keys:manage',
    params: z.object({ slug: ProjectSlug }),
    response: z.object({
      project: z.string(),
      caFingerprint: z.string(),
      servers: z.int().describe('servers the install was queued for'),
      run: z.string().describe('the install: its thread in the project channel and its trail subject'),
    }),
    status: 202,
    handler: async ({ params, deps, actor }) => requestCaInstall(deps, actor, params.slug),
  }),
];
