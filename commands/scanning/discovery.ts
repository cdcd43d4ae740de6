import { canonicalJson } from '../../lib/canonical-json.js';
import { withTx } from '../../storage/db.js';
import { getProjectBySlug, insertServer, PROVIDERS, type Provider } from '../../storage/inventory.js';
import {
  type AccountRecord,
  listAccounts,
  refreshDiscoveredServer,
  serverNameTaken,
  serversOfAccount,
} from '../../storage/scans.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { Address, OsInfo, SERVER_NAME_PATTERN, Tags } from '../inventory/schema.js';

/**
 * Discovery: a cloud account lists its servers (AWS DescribeInstanceInformation, Azure's VM
 * list); Warden adds the ones it does not know, flags them on the trail and in the project's
 * channel, and refreshes the address, OS and tags of the ones it knows. Servers are matched by
 * (account, provider id); nothing is ever deleted by discovery.
 */
export interface DiscoveredServer {
  /** The provider's id: `i-0abc…`, an Azure resource id. */
  providerId: string;
  /** A readable name (Name tag, VM name); made safe and unique before use. */
  name: string;
  address?: string | null;
  /** OS facts (integrations/os OsInfo or plain strings); string values are kept, the rest dropped. */
  os?: Record<string, unknown>;
  tags?: Record<string, string>;
}

export interface DiscoverySource {
  discover(): Promise<DiscoveredServer[]>;
}

export interface DiscoveryResult {
  account: string;
  created: string[];
  updated: string[];
  unchanged: number;
  rejected: { providerId: string; reason: string }[];
}

const PROVIDER_ID = /^[A-Za-z0-9/][A-Za-z0-9._:/@+=-]{0,511}$/;

/** A name that passes the inventory's rules: the given one, cleaned, or one from the provider id. */
export function discoveredName(name: string, providerId: string): string {
  const cleaned = name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 100)
    .replace(/[-.]+$/, '');
  if (SERVER_NAME_PATTERN.test(cleaned)) return cleaned;
  const tail = providerId
    .split('/')
    .pop()!
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '');
  return SERVER_NAME_PATTERN.test(tail.slice(0, 100)) ? tail.slice(0, 100) : 'server';
}

function safe<T>(
  schema: { safeParse(v: unknown): { success: boolean; data?: T } },
  value: unknown,
  fallback: T,
): T {
  const parsed = schema.safeParse(value);
  return parsed.success ? (parsed.data as T) : fallback;
}

function stringsOnly(facts: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(facts ?? {}))
    if (typeof value === 'string' && value) out[key] = value;
  return out;
}

/** Apply what an account reported: one transaction, with the trail and the channel posts. */
export async function applyDiscovery(
  deps: Deps,
  account: AccountRecord,
  discovered: readonly DiscoveredServer[],
): Promise<DiscoveryResult> {
  const result: DiscoveryResult = {
    account: account.name,
    created: [],
    updated: [],
    unchanged: 0,
    rejected: [],
  };
  const provider = (PROVIDERS as readonly string[]).includes(account.provider)
    ? (account.provider as Provider)
    : null;
  if (!provider) return result;
  const projectSlug = typeof account.config.project === 'string' ? account.config.project : null;
  await withTx(deps.sql, async (tx) => {
    const project = projectSlug ? await getProjectBySlug(tx, projectSlug) : undefined;
    const projectId = project?.id ?? null;
    const known = new Map((await serversOfAccount(tx, account.id)).map((r) => [r.providerId, r]));
    const at = deps.clock.now();
    for (const d of discovered) {
      if (typeof d.providerId !== 'string' || !PROVIDER_ID.test(d.providerId)) {
        result.rejected.push({
          providerId: String(d.providerId).slice(0, 100),
          reason: 'not a valid provider id',
        });
        continue;
      }
      const address = d.address ? safe<string | null>(Address, d.address, null) : null;
      const os = safe<Record<string, string>>(OsInfo, stringsOnly(d.os), {});
      const tags = safe<Record<string, string>>(Tags, d.tags ?? {}, {});
      const existing = known.get(d.providerId);
      if (existing) {
        const same =
          existing.address === address &&
          // jsonb hands keys back in its own order, so compare canonically.
          canonicalJson(existing.os) === canonicalJson(os) &&
          canonicalJson(existing.tags) === canonicalJson(tags);
        if (same) {
          result.unchanged++;
          continue;
        }
        await refreshDiscoveredServer(tx, existing.id, { address, os, tags, at });
        result.updated.push(existing.name);
        continue;
      }
      let name = discoveredName(d.name ?? '', d.providerId);
      for (let n = 2; await serverNameTaken(tx, name); n++) {
        name = `${discoveredName(d.name ?? '', d.providerId).slice(0, 120)}-${n}`;
      }
      await insertServer(
        tx,
        {
          name,
          projectId,
          accountId: account.id,
          provider,
          providerId: d.providerId,
          address,
          port: null,
          os,
          tags,
          ownerId: null,
          connection: {},
        },
        at,
      );
      result.created.push(name);
      await recordEvent(tx, deps, {
        actor: 'job:discovery',
        action: 'server.discovered',
        subject: { type: 'server', id: name },
        projectId,
        data: { server: name, account: account.name, provider, providerId: d.providerId, address },
      });
    }
    if (result.created.length > 0 || result.updated.length > 0) {
      await recordEvent(
        tx,
        deps,
        {
          actor: 'job:discovery',
          action: 'account.discovered',
          subject: { type: 'account', id: account.name },
          projectId,
          data: { created: result.created, updated: result.updated, unchanged: result.unchanged },
        },
        result.created.length > 0
          ? [
              {
                kind: 'channel-post',
                projectId,
                reply: {
                  visibility: 'public',
                  tone: 'info',
                  header: `${result.created.length} new server${result.created.length === 1 ? '' : 's'} found in ${account.name}`,
                  items: result.created.slice(0, 25).map((n) => ({ text: n })),
                  context: ['Type `scan <server>` to see what is pending on them.'],
                },
              },
            ]
          : [],
      );
    }
  });
  return result;
}

/** Every account whose provider has discovery (Deps.targetProviders), one after another. */
export async function runDiscovery(deps: Deps): Promise<DiscoveryResult[]> {
  const providers = deps.targetProviders;
  if (!providers || providers.size === 0) return [];
  const accounts = await listAccounts(deps.sql);
  const results: DiscoveryResult[] = [];
  for (const account of accounts) {
    const plugin = providers.get(account.provider);
    if (!plugin?.discovery) continue;
    try {
      const found = await plugin.discovery(account, deps).discover();
      results.push(await applyDiscovery(deps, account, found));
    } catch (err) {
      // One account's failure (credentials, throttling) must not stop the others.
      deps.log.warn({ err, account: account.name }, 'discovery failed for an account');
    }
  }
  return results;
}
