import { beforeAll, describe, expect, it } from 'vitest';
import type { CommandInteraction } from '../bot/chat/model.js';
import { addIdentity, createUser } from '../storage/users.js';
import { useTestDatabase } from '../test/db.js';
import { createTestDeps, type TestDeps } from '../test/deps.js';
import { createRegistry } from './index.js';
import {
  runningInteractions,
  startInteractionHeartbeat,
  sweepInterruptedInteractions,
  trackRunning,
} from './interrupted.js';
import type { CommandSpec } from './registry.js';
import { handleInteraction } from './router.js';

const db = useTestDatabase('interrupted');
let deps: TestDeps;
let aliceId = 0;
let seq = 0;

const MINUTE = 60_000;

async function interaction(input: {
  user?: string;
  receivedAgoMs: number;
  heartbeatAgoMs?: number;
  status?: 'received' | 'done';
  kind?: 'command' | 'action';
  body?: Record<string, unknown>;
}): Promise<number> {
  const now = deps.clock.now().getTime();
  const [row] = await db.current.sql<{ id: number }[]>`
    insert into interactions (platform, dedupe_key, user_ref, kind, body, status, received_at, heartbeat_at)
    values ('slack', ${`k${++seq}`}, ${input.user ?? 'slack:U0ALICE'}, ${input.kind ?? 'command'},
            ${db.current.sql.json((input.body ?? { text: '/warden access request web-1 for 2h' }) as never)},
            ${input.status ?? 'received'}, ${new Date(now - input.receivedAgoMs)},
            ${input.heartbeatAgoMs === undefined ? null : new Date(now - input.heartbeatAgoMs)})
    returning id`;
  return row!.id;
}

const status = async (id: number) =>
  (
    await db.current.sql<{ status: string; error: string | null }[]>`
      select status, error from interactions where id = ${id}`
  )[0];

beforeAll(async () => {
  deps = createTestDeps(db.current.sql, { chatPlatforms: ['slack'] });
  const alice = await createUser(db.current.sql, { handle: 'alice', displayName: 'Alice' });
  aliceId = alice.id;
  await addIdentity(db.current.sql, { userId: alice.id, platform: 'slack', externalId: 'U0ALICE' });
});

describe('sweepInterruptedInteractions', () => {
  it('marks what a dead process left unfinished as interrupted, on the trail, and tells the user', async () => {
    const dead = await interaction({ receivedAgoMs: 10 * MINUTE });
    const beating = await interaction({ receivedAgoMs: 10 * MINUTE, heartbeatAgoMs: 30_000 });
    const fresh = await interaction({ receivedAgoMs: 30_000 });
    const finished = await interaction({ receivedAgoMs: 10 * MINUTE, status: 'done' });
    const stranger = await interaction({
      user: 'slack:U0NOBODY',
      kind: 'action',
      receivedAgoMs: 5 * MINUTE,
      heartbeatAgoMs: 3 * MINUTE,
      body: { actionId: 'approval.approve' },
    });

    const swept = await sweepInterruptedInteractions(deps);
    expect(swept.sort()).toEqual([dead, stranger].sort());
    expect(await status(dead)).toEqual({ status: 'failed', error: 'interrupted' });
    expect(await status(stranger)).toEqual({ status: 'failed', error: 'interrupted' });
    expect((await status(beating))!.status).toBe('received');
    expect((await status(fresh))!.status).toBe('received');
    expect(await status(finished)).toEqual({ status: 'done', error: null });

    const events = await db.current.sql<{ data: Record<string, unknown> }[]>`
      select data from audit_events where action = 'interaction.interrupted' order by seq`;
    expect(events.map((e) => [e.data.interactionId, e.data.userNotified])).toEqual(
      expect.arrayContaining([
        [dead, true],
        [stranger, false],
      ]),
    );
    expect(events).toHaveLength(2);

    // Only the user Warden knows gets a message, and it says what, when and which reference.
    const direct = await db.current.sql<{ payload: { userId: number; reply: { text: string } } }[]>`
      select payload from outbox where kind = 'direct'`;
    expect(direct).toHaveLength(1);
    expect(direct[0]!.payload.userId).toBe(aliceId);
    expect(direct[0]!.payload.reply.text).toContain('command "/warden access request web-1 for 2h"');
    expect(direct[0]!.payload.reply.text).toContain(`reference #${dead}`);
    expect(direct[0]!.payload.reply.text).toContain('may not have taken effect');

    // A second sweep finds nothing new.
    expect(await sweepInterruptedInteractions(deps)).toEqual([]);
  });

  it('takes everything still received when told this is the only process (embedded start-up)', async () => {
    const fresh = await interaction({ receivedAgoMs: 1000, heartbeatAgoMs: 500 });
    expect(await sweepInterruptedInteractions(deps, { staleAfterMs: 0 })).toContain(fresh);
    expect(await status(fresh)).toEqual({ status: 'failed', error: 'interrupted' });
  });
});

describe('heartbeat', () => {
  it('refreshes the interactions this process runs, and only those', async () => {
    const mine = await interaction({ receivedAgoMs: 10 * MINUTE });
    const other = await interaction({ receivedAgoMs: 10 * MINUTE });
    const done = trackRunning(deps.sql, mine);
    const stop = startInteractionHeartbeat(deps, { everyMs: 20 });
    try {
      await expect
        .poll(
          async () =>
            (
              await db.current.sql<{ heartbeatAt: Date | null }[]>`
                select heartbeat_at as "heartbeatAt" from interactions where id = ${mine}`
            )[0]!.heartbeatAt,
          { timeout: 5000, interval: 20 },
        )
        .not.toBeNull();
    } finally {
      done();
      await stop();
    }
    expect(runningInteractions(deps.sql)).not.toContain(mine);
    const [row] = await db.current.sql<{ heartbeatAt: Date | null }[]>`
      select heartbeat_at as "heartbeatAt" from interactions where id = ${other}`;
    expect(row!.heartbeatAt).toBeNull();
    // Its heartbeat is now: the sweep leaves it, the untracked one goes.
    const swept = await sweepInterruptedInteractions(deps);
    expect(swept).toContain(other);
    expect(swept).not.toContain(mine);
  });

  it('covers an interaction from its commit until it finishes', async () => {
    const registry = createRegistry();
    const seen: number[][] = [];
    (registry.commands as CommandSpec[]).push({
      path: ['probe'],
      usage: 'probe',
      summary: 'Looks at what is running.',
      async run() {
        seen.push(runningInteractions(deps.sql));
        return {};
      },
    });
    const carol = await createUser(db.current.sql, { handle: 'carol', displayName: 'Carol' });
    await addIdentity(db.current.sql, { userId: carol.id, platform: 'console', externalId: 'carol' });
    const input: CommandInteraction = {
      kind: 'command',
      text: 'probe',
      user: { platform: 'console', externalId: 'carol' },
      channel: 'demo',
      dedupeKey: 'probe-running',
      receivedAt: deps.clock.now(),
    };
    let recordedId = 0;
    await handleInteraction(input, deps, registry, {
      onRecorded: ({ id }) => {
        recordedId = id;
        // Waiting for a slot counts as running: the sweep must not take it meanwhile.
        seen.push(runningInteractions(deps.sql));
      },
    });
    expect(seen).toEqual([[recordedId], [recordedId]]);
    expect(runningInteractions(deps.sql)).toEqual([]);
  });
});
