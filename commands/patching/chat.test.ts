import { beforeAll, describe, expect, it } from 'vitest';
import type { CommandInteraction, Reply } from '../../bot/chat/model.js';
import { addIdentity } from '../../storage/users.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createRegistry } from '../index.js';
import type { Actor } from '../rbac/authorize.js';
import { handleInteraction } from '../router.js';
import { createScriptedTargets, finding, scanResult } from '../scanning/testing.js';
import { getPlan } from './plans.js';
import { createTestFleet, patchApprovalSubjectMap, type TestFleet } from './testing.js';

const db = useTestDatabase('patch-chat');
const registry = createRegistry();
let deps: TestDeps;
let fleet: TestFleet;
let seq = 0;
const DAY = 86_400_000;

const openssl = finding('openssl', {
  installedVersion: '3.0.11-1',
  candidateVersion: '3.0.13-1',
  classification: 'security',
  severity: 'critical',
  cves: ['CVE-2024-0727'],
});

async function say(actor: Actor, text: string): Promise<Reply> {
  const interaction: CommandInteraction = {
    kind: 'command',
    text,
    user: { platform: 'console', externalId: actor.user.handle },
    channel: 'test',
    dedupeKey: `patch-chat-${++seq}`,
    receivedAt: deps.clock.now(),
  };
  const result = await handleInteraction(interaction, deps, registry);
  return result.reply!;
}

beforeAll(async () => {
  const targets = createScriptedTargets(() => scanResult([openssl]));
  deps = createTestDeps(db.current.sql, { approvalSubjects: patchApprovalSubjectMap(), targets });
  deps.clock.set('2026-01-05T09:00:00Z');
  fleet = await createTestFleet(deps, {
    servers: [{ name: 'chat-1', findings: [openssl] }],
    policy: { windows: [{ cron: '0 2 * * 6', timezone: 'UTC', durationMinutes: 120 }] },
  });
  for (const actor of [fleet.planner, fleet.approver]) {
    await addIdentity(deps.sql, {
      userId: actor.user.id,
      platform: 'console',
      externalId: actor.user.handle,
    });
  }
});

describe('patching in chat', () => {
  it('shows the policy, builds a plan, lists it and cancels it', async () => {
    const policy = await say(fleet.approver, `patch policy ${fleet.project.slug}`);
    expect(policy.header).toBe(`Patch policy of ${fleet.project.slug}`);
    expect(policy.fields?.find((f) => f.label === 'Next window')?.value).toBe(
      'Sat 2026-01-10 02:00–04:00 UTC',
    );

    const built = await say(fleet.planner, `patch plan ${fleet.project.slug}`);
    expect(built.tone).toBe('success');
    expect(built.header).toMatch(
      new RegExp(`^Patch plan #(\\d+) for ${fleet.project.slug}: 1 package on 1 server$`),
    );
    const id = Number(/#(\d+)/.exec(built.header!)![1]);
    expect(built.fields?.find((f) => f.label === 'CVEs fixed')?.value).toBe('CVE-2024-0727');

    const again = await say(fleet.planner, `patch plan ${fleet.project.slug}`);
    expect(again.header).toBe(`Plan #${id} is unchanged`);

    const list = await say(fleet.approver, `patch plans ${fleet.project.slug}`);
    expect(list.items?.[0]?.text).toBe(`#${id} ${fleet.project.slug} (next window): Waiting for approval`);

    const refused = await say(fleet.approver, `patch cancel ${id}`);
    expect(refused.tone).toBe('error');
    expect(refused.text).toMatch(/patch:plan/);
    const cancelled = await say(fleet.planner, `patch cancel #${id} reason "freeze week"`);
    expect(cancelled.text).toMatch(/is cancelled/);
    expect((await getPlan(deps.sql, id))!.status).toBe('cancelled');
  });

  it('explains what is wrong instead of guessing', async () => {
    expect((await say(fleet.planner, `patch run ${fleet.project.slug} later`)).text).toMatch(
      /Usage: \/warden patch run <project> now/,
    );
    expect((await say(fleet.planner, 'patch cve not-a-cve')).text).toMatch(/is not a CVE id/);
    expect((await say(fleet.planner, 'patch plan no-such-project')).text).toMatch(/there is no project/);
    expect((await say(fleet.planner, 'patch cancel abc')).text).toMatch(/is not a plan number/);
  });

  it('plans a CVE in every project where it is pending', async () => {
    const reply = await say(fleet.planner, 'patch cve cve-2024-0727');
    expect(reply.header).toBe('CVE-2024-0727: 1 plan(s)');
    expect(reply.items?.[0]?.text).toMatch(
      new RegExp(`^${fleet.project.slug}: plan #\\d+, 1 server\\(s\\)$`),
    );
  });

  it('answers at once when stale servers must be rescanned, and tells the person when the plan is built', async () => {
    deps.clock.advance(9 * DAY);
    const reply = await say(fleet.planner, `patch run ${fleet.project.slug} now`);
    expect(reply.text).toMatch(/^Rescanning 1 server\(s\) of .* whose results are stale first/);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const [row] = await deps.sql<{ payload: { reply: { header?: string } } }[]>`
        select payload from outbox where kind = 'direct' and idempotency_key like 'patch-build:%'
          and (payload ->> 'userId')::bigint = ${fleet.planner.user.id}`;
      if (row) {
        expect(row.payload.reply.header).toMatch(/^Patch plan #\d+ for .* \(now\): 1 package on 1 server$/);
        break;
      }
      if (Date.now() > deadline) throw new Error('the plan built in the background was never reported');
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
});
