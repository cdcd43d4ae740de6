import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { decide } from '../approvals/engine.js';
import { finding } from '../scanning/testing.js';
import { buildPlan } from './build.js';
import { dispatchDuePlans, PATCH_RUN_JOB } from './dispatch.js';
import { sendHeadsUps } from './heads-up.js';
import { getPlan } from './plans.js';
import { createApprovedPlan, createTestFleet, patchApprovalSubjectMap, scanTestServers } from './testing.js';

const db = useTestDatabase('patch-schedule');
const MINUTE = 60_000;
let deps: TestDeps;

const pkg = (to: string) =>
  finding('nginx', {
    installedVersion: '1.22.1-9',
    candidateVersion: to,
    classification: 'security',
    severity: 'important',
  });
const POLICY = {
  windows: [{ cron: '0 2 * * 6', timezone: 'Europe/Paris', durationMinutes: 120, cutoffMinutes: 30 }],
  headsUpMinutes: 60,
};

beforeAll(() => {
  deps = createTestDeps(db.current.sql, { approvalSubjects: patchApprovalSubjectMap() });
});

/** A plan built and approved at Monday 2026-01-05 09:00Z: scheduled into Sat 10 Jan 02:00 Paris (01:00Z). */
async function scheduledPlan(name: string) {
  deps.clock.set('2026-01-05T09:00:00Z');
  const fleet = await createTestFleet(deps, {
    servers: [{ name, findings: [pkg('1.22.1-10')] }],
    policy: POLICY,
  });
  const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug });
  if (built.outcome !== 'created') throw new Error(built.outcome);
  await decide(deps, {
    actor: fleet.approver,
    requestId: built.plan.approvalRequestId!,
    decision: 'approve',
  });
  return { fleet, plan: (await getPlan(deps.sql, built.plan.id))! };
}

function recorder() {
  const calls: [string, Record<string, unknown>][] = [];
  return {
    calls,
    enqueue: async (name: string, data: Record<string, unknown>) => void calls.push([name, data]),
  };
}

/** Outbox rows of this kind about the plan's subject (its message and thread). */
async function outboxOf(planId: number, kind: string) {
  return deps.sql<{ payload: { reply: { text?: string } } }[]>`
    select payload from outbox
    where kind = ${kind} and payload -> 'subject' ->> 'type' = 'patch-plan' and payload -> 'subject' ->> 'id' = ${String(planId)}`;
}

describe('scheduling and starting plans', () => {
  it('schedules an approved plan into the next window and enqueues patch-run once when it opens', async () => {
    const { plan } = await scheduledPlan('sched-1');
    expect(plan.status).toBe('scheduled');
    expect(plan.windowStart?.toISOString()).toBe('2026-01-10T01:00:00.000Z');
    expect(plan.cutoffAt?.toISOString()).toBe('2026-01-10T02:30:00.000Z');
    const r = recorder();
    deps.clock.set('2026-01-10T00:59:59Z');
    expect((await dispatchDuePlans(deps, r.enqueue)).enqueued).not.toContain(plan.id);
    deps.clock.set('2026-01-10T01:00:20Z');
    expect((await dispatchDuePlans(deps, r.enqueue)).enqueued).toContain(plan.id);
    deps.clock.advance(30_000);
    expect((await dispatchDuePlans(deps, r.enqueue)).enqueued).not.toContain(plan.id);
    expect(r.calls.filter(([, data]) => data.planId === plan.id)).toEqual([
      [PATCH_RUN_JOB, { planId: plan.id }],
    ]);
    // A run that never started (its job lost) is enqueued again after ten minutes, while the window lasts.
    deps.clock.advance(10 * MINUTE);
    expect((await dispatchDuePlans(deps, r.enqueue)).enqueued).toContain(plan.id);
  });

  it('moves a plan whose window passed its cutoff before the run could start to the next window', async () => {
    const { plan } = await scheduledPlan('missed-1');
    const r = recorder();
    deps.clock.set('2026-01-10T02:31:00Z'); // Warden was down through the window
    const result = await dispatchDuePlans(deps, r.enqueue);
    expect(result.rescheduled).toContain(plan.id);
    expect(r.calls.filter(([, d]) => d.planId === plan.id)).toEqual([]);
    const moved = (await getPlan(deps.sql, plan.id))!;
    expect(moved.status).toBe('scheduled');
    expect(moved.windowStart?.toISOString()).toBe('2026-01-17T01:00:00.000Z');
  });

  it('supersedes a scheduled plan at its window when a package moved to another version, and does not run it', async () => {
    const { fleet, plan } = await scheduledPlan('moved-1');
    await scanTestServers(deps, fleet.project, [
      { name: 'moved-1', id: fleet.servers.get('moved-1')!, findings: [pkg('1.22.1-11')] },
    ]);
    const r = recorder();
    deps.clock.set('2026-01-10T01:00:30Z');
    const result = await dispatchDuePlans(deps, r.enqueue);
    const serverId = fleet.servers.get('moved-1')!;
    const seen =
      await deps.sql`select candidate_version, last_scan_id from findings_open where server_id = ${serverId}`;
    expect(
      result.superseded,
      `dispatch ${JSON.stringify(result)}, findings ${JSON.stringify(seen)}`,
    ).toContain(plan.id);
    expect(r.calls.filter(([, d]) => d.planId === plan.id)).toEqual([]);
    const ended = (await getPlan(deps.sql, plan.id))!;
    expect(ended.status).toBe('superseded');
    expect(ended.notes.endReason).toMatch(/other version: nginx on moved-1 \(now 1\.22\.1-11\)/);
  });

  it('posts the heads-up to the channel once, headsUpMinutes before the window', async () => {
    const { plan } = await scheduledPlan('heads-1');
    deps.clock.set('2026-01-09T23:30:00Z'); // 90 minutes before
    expect(await sendHeadsUps(deps)).not.toContain(plan.id);
    deps.clock.set('2026-01-10T00:01:00Z'); // 59 minutes before
    expect(await sendHeadsUps(deps)).toContain(plan.id);
    deps.clock.advance(MINUTE);
    expect(await sendHeadsUps(deps)).not.toContain(plan.id);
    const posts = await deps.sql<{ payload: { reply: { header: string; text: string } } }[]>`
      select o.payload from outbox o join audit_events e on e.seq = o.audit_seq
      where e.action = 'patch.plan.heads-up' and e.subject_id = ${String(plan.id)} and o.kind = 'channel-post'`;
    expect(posts).toHaveLength(1);
    expect(posts[0]!.payload.reply.text).toMatch(
      /^Patching starts in 59 minutes: Sat 2026-01-10 02:00–04:00 Europe\/Paris \(cutoff 03:30\)/,
    );
    const thread = await outboxOf(plan.id, 'thread-reply');
    expect(thread.filter((t) => t.payload.reply.text?.startsWith('Patching starts in'))).toHaveLength(1);
  });

  it('plans a `now` patch into a window that opens at its approval', async () => {
    deps.clock.set('2026-01-05T09:00:00Z');
    const fleet = await createTestFleet(deps, { servers: [{ name: 'now-1', findings: [pkg('1.22.1-10')] }] });
    const built = await buildPlan(deps, fleet.planner, { project: fleet.project.slug, kind: 'now' });
    if (built.outcome !== 'created') throw new Error(built.outcome);
    deps.clock.set('2026-01-05T09:20:00Z');
    await decide(deps, {
      actor: fleet.approver,
      requestId: built.plan.approvalRequestId!,
      decision: 'approve',
    });
    const plan = (await getPlan(deps.sql, built.plan.id))!;
    expect(plan.status).toBe('scheduled');
    expect(plan.windowStart?.toISOString()).toBe('2026-01-05T09:20:00.000Z');
    expect(plan.windowEnd?.toISOString()).toBe('2026-01-05T11:20:00.000Z');
    const r = recorder();
    expect((await dispatchDuePlans(deps, r.enqueue)).enqueued).toContain(plan.id);
  });

  it('gives runs a ready plan in one call: built, approved (exclusions too) and scheduled into a window open now', async () => {
    deps.clock.set('2026-01-05T09:00:00Z');
    const ready = await createApprovedPlan(deps, {
      servers: [
        { name: 'ready-1', findings: [pkg('1.22.1-10')], tags: { stage: 'canary' } },
        {
          name: 'ready-2',
          findings: [pkg('1.22.1-10'), finding('linux-image-amd64', { candidateVersion: '6.1.85-1' })],
        },
      ],
      policy: { classifications: ['security', 'other'], exclusions: ['linux-image-*'] },
    });
    expect(ready.plan).toMatchObject({ status: 'scheduled', kind: 'now' });
    expect(ready.plan.windowStart?.toISOString()).toBe('2026-01-05T09:00:00.000Z');
    expect(ready.items.map((i) => [i.serverName, i.ring, i.package, i.excluded])).toEqual([
      ['ready-1', 0, 'nginx', false],
      ['ready-2', 1, 'linux-image-amd64', true],
      ['ready-2', 1, 'nginx', false],
    ]);
  });
});
