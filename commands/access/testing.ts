import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Target } from '../../integrations/targets/types.js';
import { createOutboxWorker, type DrainResult } from '../../jobs/outbox-worker.js';
import type { Sql } from '../../storage/db.js';
import { insertServer, type Server } from '../../storage/inventory.js';
import { addIdentity } from '../../storage/users.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import type { Deps } from '../deps.js';
import { addUserKey } from '../keys/register.js';
import type { Actor } from '../rbac/authorize.js';
import { createScanLimiter } from '../scanning/limiter.js';
import type { TargetFactory } from '../scanning/target-factory.js';
import type { CaServerResult } from './ca-script.js';
import { accessApprovalSubjects } from './subjects.js';
import { createAccessDeliverer } from './work.js';

/** Builders for access tests: plain data and fakes, no test framework. */

export function accessSubjects() {
  return createApprovalSubjects([...accessApprovalSubjects]);
}

/** A key pair made by ssh-keygen in a private temporary directory. */
export interface TestKeyPair {
  dir: string;
  privateKeyFile: string;
  publicKey: string;
}

export function makeKeyPair(comment: string): TestKeyPair {
  const dir = mkdtempSync(path.join(tmpdir(), 'wd-access-key-'));
  const privateKeyFile = path.join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', privateKeyFile]);
  return { dir, privateKeyFile, publicKey: readFileSync(`${privateKeyFile}.pub`, 'utf8').trim() };
}

/** Register `publicKey` for the actor through the key registry, as `keys add` does. */
export async function registerUserKey(deps: Deps, actor: Actor, publicKey: string): Promise<void> {
  await addUserKey(deps, actor, { publicKey });
}

export async function linkConsole(sql: Sql, ...actors: Actor[]): Promise<void> {
  for (const a of actors) {
    await addIdentity(sql, { userId: a.user.id, platform: 'console', externalId: a.user.handle });
  }
}

export async function addServer(
  sql: Sql,
  input: {
    name: string;
    projectId: number;
    address?: string;
    port?: number;
    connection?: Record<string, unknown>;
  },
): Promise<number> {
  return insertServer(
    sql,
    {
      name: input.name,
      projectId: input.projectId,
      accountId: null,
      provider: 'ssh',
      providerId: null,
      address: input.address ?? '127.0.0.1',
      port: input.port ?? 22,
      os: {},
      tags: {},
      ownerId: null,
      connection: input.connection ?? {},
    },
    new Date('2026-01-01T00:00:00Z'),
  );
}

export interface KeyCall {
  server: string;
  op: 'add' | 'remove';
  login: string;
  tag: string;
  keyLine?: string;
}

/**
 * A target factory whose targets only record key edits (and can be told to fail), for tests of
 * the request flow that do not need a real server.
 */
export function recordingTargets(): { factory: TargetFactory; calls: KeyCall[]; failOn: Set<string> } {
  const calls: KeyCall[] = [];
  const failOn = new Set<string>();
  const make = (server: Server): Target => ({
    provider: 'ssh',
    name: server.name,
    exec: async () => {
      throw new Error('recording target: exec is not expected here');
    },
    scan: async () => {
      throw new Error('recording target: scan is not expected here');
    },
    install: async () => {
      throw new Error('recording target: install is not expected here');
    },
    async addAuthorizedKey(login, keyLine, tag) {
      if (failOn.has(server.name)) throw new Error(`${server.name} is unreachable`);
      calls.push({ server: server.name, op: 'add', login, tag, keyLine });
      return { login, tag, removed: 0, added: true };
    },
    async removeAuthorizedKey(login, tag) {
      if (failOn.has(server.name)) throw new Error(`${server.name} is unreachable`);
      calls.push({ server: server.name, op: 'remove', login, tag });
      return { login, tag, removed: 1, added: false };
    },
    close: async () => {},
  });
  const factory: TargetFactory = {
    forServer: async (server) => make(server),
    limiter: createScanLimiter(),
    close: async () => {},
  };
  return { factory, calls, failOn };
}

/** Deliver every due item of the `access` outbox channel, as the running bot's worker would. */
export function drainAccessOutbox(deps: Deps): Promise<DrainResult> {
  const access = createAccessDeliverer(() => deps);
  return createOutboxWorker({
    sql: deps.sql,
    clock: deps.clock,
    log: deps.log,
    deliverers: { access },
  }).drainOnce();
}

/** Each server's result of a queued `ca install`, from the trail. */
export async function caInstallResults(sql: Sql, run: string): Promise<CaServerResult[]> {
  const rows = await sql<{ data: { servers: CaServerResult[] } }[]>`
    select data from audit_events
    where action = 'access.ca-installed' and subject_type = 'ca-install' and subject_id = ${run} order by seq`;
  return rows.flatMap((r) => r.data.servers);
}
