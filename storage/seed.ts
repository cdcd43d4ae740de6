import { recordEvent, type TrailDeps } from '../commands/audit/trail.js';
import type { Role } from '../commands/rbac/roles.js';
import type { Logger } from '../lib/logger.js';
import { type Sql, type Tx, withTx } from './db.js';
import { addIdentity, bindRole, createUser, getUserByEmail, getUserByHandle, type User } from './users.js';

/**
 * What every fresh installation needs, created at start-up and safe to run on every boot and by
 * several replicas at once (one transaction behind an advisory lock):
 *
 * - each WARDEN_ADMINS address becomes a user with a global `admin` binding and an `email`
 *   identity: the bootstrap admin, who later links Slack or Teams by verified e-mail;
 * - in the embedded demo, the `demo` project, the local users alice (operator) and bob (approver,
 *   admin) with their console identities, and this machine as the server `localhost`.
 *
 * Every row it creates goes on the audit trail as `system`.
 */
export interface SeedOptions {
  admins: readonly string[];
  demo: boolean;
}

export interface SeedResult {
  /** Handles of admin users created by this run (not those that already existed). */
  createdAdmins: string[];
  /** True when this run created the demo (false when it was already there or not asked for). */
  demoCreated: boolean;
}

// Any constant works: it only has to differ from other advisory locks Warden takes.
const SEED_LOCK = 0x5eed_0001;

export const DEMO_PROJECT = 'demo';
export const DEMO_SERVER = 'localhost';

export async function seed(
  sql: Sql,
  deps: TrailDeps & { log?: Logger },
  options: SeedOptions,
): Promise<SeedResult> {
  const result = await withTx(sql, async (tx) => {
    await tx`select pg_advisory_xact_lock(${SEED_LOCK})`;
    const createdAdmins: string[] = [];
    for (const email of options.admins) {
      const created = await ensureAdmin(tx, deps, email.toLowerCase());
      if (created) createdAdmins.push(created);
    }
    const demoCreated = options.demo ? await seedDemo(tx, deps) : false;
    return { createdAdmins, demoCreated };
  });
  for (const handle of result.createdAdmins) {
    deps.log?.info({ handle }, `created the bootstrap admin ${handle}`);
  }
  if (result.demoCreated) {
    deps.log?.info('seeded the demo: project demo, users alice (operator) and bob (approver, admin)');
  }
  return result;
}

/** A valid, unused handle from an e-mail's local part: `Jane.Doe+ops@x` → `jane.doe-ops`. */
export async function handleFromEmail(sql: Tx | Sql, email: string): Promise<string> {
  const local = email.split('@')[0] ?? '';
  const base =
    local
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '')
      .slice(0, 56)
      .replace(/[._-]+$/, '') || 'admin';
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? base : `${base}-${n}`;
    if (!(await getUserByHandle(sql, candidate))) return candidate;
  }
}

/** Returns the handle when the user was created, undefined when they already existed. */
async function ensureAdmin(tx: Tx, deps: TrailDeps, email: string): Promise<string | undefined> {
  let user = await getUserByEmail(tx, email);
  const created = !user;
  if (!user) {
    const handle = await handleFromEmail(tx, email);
    user = await createUser(tx, { handle, displayName: email, email });
    await recordEvent(tx, deps, {
      actor: 'system',
      action: 'user.created',
      subject: { type: 'user', id: user.handle },
      data: { handle: user.handle, email, source: 'WARDEN_ADMINS' },
    });
  }
  await addIdentity(tx, { userId: user.id, platform: 'email', externalId: email, email, verified: true });
  // WARDEN_ADMINS is the operator's word: whoever is listed there is an admin on every boot.
  await grant(tx, deps, user, 'admin', null, 'WARDEN_ADMINS');
  return created ? user.handle : undefined;
}

async function seedDemo(tx: Tx, deps: TrailDeps): Promise<boolean> {
  // Seeded once: after that the demo belongs to whoever runs it, and a restart must not undo
  // what they changed (an unbound role, a removed server).
  const [existing] = await tx`select id from projects where slug = ${DEMO_PROJECT}`;
  if (existing) return false;

  const [project] = await tx<{ id: number }[]>`
    insert into projects (slug, name, description, channels)
    values (${DEMO_PROJECT}, 'Demo', 'The local machine, for trying Warden out',
            ${tx.json({ console: DEMO_PROJECT })})
    returning id`;
  const projectId = project!.id;
  await recordEvent(tx, deps, {
    actor: 'system',
    action: 'project.created',
    subject: { type: 'project', id: DEMO_PROJECT },
    projectId,
    data: { slug: DEMO_PROJECT, source: 'demo' },
  });

  const alice = await ensureConsoleUser(tx, deps, 'alice', 'Alice (operator)');
  const bob = await ensureConsoleUser(tx, deps, 'bob', 'Bob (approver)');
  await grant(tx, deps, alice, 'operator', projectId, 'demo');
  await grant(tx, deps, bob, 'approver', projectId, 'demo');
  await grant(tx, deps, bob, 'admin', null, 'demo');

  const [server] = await tx<{ id: number }[]>`
    insert into servers (name, project_id, provider, address, owner_id)
    values (${DEMO_SERVER}, ${projectId}, 'local', '127.0.0.1', ${bob.id})
    on conflict (name) do nothing
    returning id`;
  if (server) {
    await recordEvent(tx, deps, {
      actor: 'system',
      action: 'server.created',
      subject: { type: 'server', id: DEMO_SERVER },
      projectId,
      data: { name: DEMO_SERVER, provider: 'local', owner: bob.handle, source: 'demo' },
    });
  }
  return true;
}

async function ensureConsoleUser(
  tx: Tx,
  deps: TrailDeps,
  handle: string,
  displayName: string,
): Promise<User> {
  let user = await getUserByHandle(tx, handle);
  if (!user) {
    user = await createUser(tx, { handle, displayName });
    await recordEvent(tx, deps, {
      actor: 'system',
      action: 'user.created',
      subject: { type: 'user', id: handle },
      data: { handle, source: 'demo' },
    });
  }
  await addIdentity(tx, { userId: user.id, platform: 'console', externalId: handle, verified: true });
  return user;
}

/** Bind `role` unless the user already holds it there; only a new binding goes on the trail. */
async function grant(
  tx: Tx,
  deps: TrailDeps,
  user: User,
  role: Role,
  projectId: number | null,
  source: string,
): Promise<void> {
  const [held] = await tx`
    select 1 from role_bindings
    where user_id = ${user.id} and role = ${role} and project_id is not distinct from ${projectId}`;
  if (held) return;
  await bindRole(tx, { userId: user.id, role, projectId });
  await recordEvent(tx, deps, {
    actor: 'system',
    action: 'role.granted',
    subject: { type: 'user', id: user.handle },
    projectId,
    data: { handle: user.handle, role, scope: projectId === null ? 'global' : 'project', source },
  });
}
