import { z } from 'zod';
import type { AuditEvent } from '../../commands/audit/trail.js';
import type { TokenInfo } from '../../commands/tokens/tokens.js';
import { PROVIDERS, type Project, type ProjectWithCount, type Server } from '../../storage/inventory.js';

/**
 * What the API answers, as zod schemas (for the OpenAPI document and to check every response)
 * and the functions that turn command results into them. Times are ISO 8601 strings in UTC.
 */
const Timestamp = z.iso.datetime();
const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

export const ErrorBody = z.object({
  error: z.object({
    code: z.enum([
      'bad_request',
      'unauthenticated',
      'forbidden',
      'not_found',
      'conflict',
      'already_decided',
      'expired',
      'rate_limited',
      'unavailable',
      'integration',
      'internal',
    ]),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
    requestId: z.string(),
  }),
});

export const ProjectView = z.object({
  slug: z.string(),
  name: z.string(),
  description: z.string(),
  channels: z.record(z.string(), z.string()),
  serverCount: z.int().optional(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export function projectView(p: Project | ProjectWithCount): z.input<typeof ProjectView> {
  return {
    slug: p.slug,
    name: p.name,
    description: p.description,
    channels: p.channels,
    ...('serverCount' in p ? { serverCount: p.serverCount } : {}),
    createdAt: iso(p.createdAt),
    updatedAt: iso(p.updatedAt),
  };
}

export const ServerView = z.object({
  name: z.string(),
  project: z.string().nullable(),
  provider: z.enum(PROVIDERS),
  providerId: z.string().nullable(),
  account: z.string().nullable(),
  address: z.string().nullable(),
  port: z.int().nullable(),
  os: z.record(z.string(), z.string()),
  tags: z.record(z.string(), z.string()),
  owner: z.string().nullable(),
  connection: z.record(z.string(), z.unknown()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export function serverView(s: Server): z.input<typeof ServerView> {
  return {
    name: s.name,
    project: s.projectSlug,
    provider: s.provider,
    providerId: s.providerId,
    account: s.accountName,
    address: s.address,
    port: s.port,
    os: s.os,
    tags: s.tags,
    owner: s.ownerHandle,
    connection: s.connection,
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
  };
}

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    nextCursor: z.string().nullable().describe('pass as ?cursor= to get the next page; null on the last'),
  });
}

export const AuditEventView = z.object({
  seq: z.int(),
  at: Timestamp,
  actor: z.string(),
  action: z.string(),
  subjectType: z.string().nullable(),
  subjectId: z.string().nullable(),
  projectId: z.int().nullable(),
  data: z.record(z.string(), z.unknown()),
  requestId: z.string().nullable(),
  prevHash: z.string(),
  hash: z.string(),
});

export function auditEventView(e: AuditEvent): z.input<typeof AuditEventView> {
  return { ...e, at: iso(e.at) };
}

export const ChainReportView = z.object({
  ok: z.boolean(),
  checked: z.int(),
  headSeq: z.int(),
  firstBroken: z.object({ seq: z.int(), problem: z.string(), detail: z.string() }).optional(),
});

export const TokenView = z.object({
  id: z.int(),
  name: z.string(),
  prefix: z.string(),
  owner: z.string(),
  scopes: z.array(z.string()),
  project: z.string().nullable(),
  status: z.enum(['active', 'expired', 'revoked']),
  expiresAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
  createdAt: Timestamp,
});

export function tokenView(t: TokenInfo): z.input<typeof TokenView> {
  return {
    ...t,
    expiresAt: isoOrNull(t.expiresAt),
    lastUsedAt: isoOrNull(t.lastUsedAt),
    revokedAt: isoOrNull(t.revokedAt),
    createdAt: iso(t.createdAt),
  };
}

export const CreatedTokenView = z.object({
  token: z.string().describe('the token itself: shown this once, store it now'),
  info: TokenView,
});

const Outcome = z.object({
  created: z.array(z.string()),
  updated: z.array(z.string()),
  unchanged: z.array(z.string()),
});
export const ImportResultView = z.object({ projects: Outcome, servers: Outcome });
