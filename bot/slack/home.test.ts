import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addServer } from '../../commands/access/testing.js';
import { homeCompliance, homeGrants } from '../../commands/home.js';
import { insertAccessRequest, insertGrant } from '../../storage/access.js';
import { withTx } from '../../storage/db.js';
import { useTestDatabase } from '../../test/db.js';
import { nextId, openHome, type SlackWorld, startSlackWorld } from './testing.js';

const db = useTestDatabase('slack-home');
let world: SlackWorld;

beforeEach(async () => {
  // The sources Warden's main process gives the adapter (bot/main.ts).
  world = await startSlackWorld(db.current.sql, {
    homeSources: { grants: homeGrants, compliance: homeCompliance },
  });
});

afterEach(async () => {
  try {
    world.slack.verify();
  } finally {
    await world.stop();
  }
});

async function openedBy(user: string): Promise<string> {
  return JSON.stringify((await openHome(world, user)) ?? null);
}

/** An active grant for `userId` on the world's project, as the access flow leaves it. */
async function grantFor(userId: number, login: string, hours: number, status: 'active' | 'revoked') {
  const now = world.deps.clock.now();
  const serverId = await addServer(db.current.sql, { name: nextId('db-'), projectId: world.projectId });
  return withTx(db.current.sql, async (tx) => {
    const request = await insertAccessRequest(tx, {
      requesterId: userId,
      projectId: world.projectId,
      scope: 'project',
      scopeName: world.projectSlug,
      serverIds: [serverId],
      login,
      durationMs: hours * 3_600_000,
      requestedStart: null,
      ticket: 'OPS-7',
      reason: 'on call',
      mode: 'authorized-keys',
      emergency: false,
      publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHome test',
      keyFingerprint: 'SHA256:home',
      keyId: null,
      extendsGrantId: null,
      status: 'approved',
      createdAt: now,
    });
    const grant = await insertGrant(tx, {
      requestId: request.id,
      requesterId: userId,
      projectId: world.projectId,
      approvalId: null,
      login,
      mode: 'authorized-keys',
      publicKey: request.publicKey,
      keyFingerprint: request.keyFingerprint,
      keyId: null,
      fromPatterns: null,
      ticket: 'OPS-7',
      emergency: false,
      startsAt: now,
      expiresAt: new Date(now.getTime() + hours * 3_600_000),
      createdAt: now,
    });
    if (status !== 'active') await tx`update grants set status = ${status} where id = ${grant.id}`;
    return grant;
  });
}

describe('the Slack App Home with access and compliance', () => {
  it("shows only the user's own active grants, with their expiry", async () => {
    const mine = await grantFor(world.users.alice, 'alice', 2, 'active');
    const ended = await grantFor(world.users.alice, 'olduser', 1, 'revoked');
    const carols = await grantFor(world.users.carol, 'carol', 3, 'active');

    const home = await openedBy(world.ids.alice);
    expect(home).toContain(`Grant #${mine.id}: alice on ${world.projectSlug}`);
    expect(home).toContain('active until 2026-01-05 11:00 UTC');
    expect(home).not.toContain(`Grant #${ended.id}`);
    expect(home).not.toContain(`Grant #${carols.id}`);
    expect(home).not.toContain('No grants yet');

    const bobs = await openedBy(world.ids.bob);
    expect(bobs).toContain('You hold no active grants.');
  });

  it('shows each readable project with its compliance counts and when it was last scanned', async () => {
    const now = world.deps.clock.now();
    const sql = db.current.sql;
    for (const [name, state, security] of [
      ['web-01', 'compliant', 0],
      ['web-02', 'non-compliant', 3],
      ['web-03', 'unknown', 0],
    ] as const) {
      const id = await addServer(sql, { name: `${name}-${world.projectSlug}`, projectId: world.projectId });
      await sql`
        insert into server_compliance_state (server_id, project_id, state, since, open_security, updated_at)
        values (${id}, ${world.projectId}, ${state}, ${now}, ${security}, ${now})`;
    }
    const before = await openedBy(world.ids.alice);
    expect(before).toContain(
      '1 compliant, 1 not compliant, 1 unknown · 3 security updates pending · never scanned as a whole',
    );
    await sql`
      insert into scan_batches (scope_kind, scope_value, project_id, server_ids, total, triggered_by,
                                requested_ref, started_at, heartbeat_at)
      values ('project', ${world.projectSlug}, ${world.projectId}, '{}', 3, 'schedule', 'job:scan-due', ${now}, ${now})`;
    const after = await openedBy(world.ids.alice);
    expect(after).toContain('3 security updates pending · last scanned 2026-01-05 09:00 UTC');
  });
});
