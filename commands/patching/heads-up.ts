import { ticketOutboxFor } from '../../integrations/tickets/subjects.js';
import { withTx } from '../../storage/db.js';
import { listPlanItems } from '../../storage/patching.js';
import { claimHeadsUp, listPlansDueHeadsUp } from '../../storage/patching-work.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { planSubject, planTitle, summarize, windowText } from './render.js';

/**
 * The heads-up: `headsUpMinutes` before a scheduled window opens, one post to the project's channel
 * (and a line in the plan's thread and ticket). Claimed by setting heads_up_sent_at in the same
 * transaction as the post's outbox row, so it goes out once, however many replicas look. A plan
 * moved to another window gets a new heads-up for it.
 */
export const HEADS_UP_ACTOR = 'job:patch-heads-up';

export async function sendHeadsUps(deps: Deps): Promise<number[]> {
  const now = deps.clock.now();
  const sent: number[] = [];
  for (const plan of await listPlansDueHeadsUp(deps.sql, now)) {
    const done = await withTx(deps.sql, async (tx) => {
      if (!(await claimHeadsUp(tx, plan.id, now))) return false;
      const items = await listPlanItems(tx, plan.id);
      const s = summarize(plan, items);
      const minutes = Math.max(1, Math.round((plan.windowStart!.getTime() - now.getTime()) / 60_000));
      const text = `Patching starts in ${minutes} minutes: ${windowText(plan)}. ${s.reboots} of ${s.servers} servers are expected to reboot. Ring order: ${s.rings.map((r) => r.name).join(' → ')}. To stop it, type \`patch cancel ${plan.id}\`.`;
      const subject = planSubject(plan.id);
      await recordEvent(
        tx,
        deps,
        {
          actor: HEADS_UP_ACTOR,
          action: 'patch.plan.heads-up',
          subject,
          projectId: plan.projectId,
          data: { planId: plan.id, windowStart: plan.windowStart!.toISOString(), minutes },
        },
        [
          {
            kind: 'channel-post',
            projectId: plan.projectId,
            reply: { visibility: 'public', tone: 'warning', header: `Heads-up: ${planTitle(plan, s)}`, text },
          },
          { kind: 'thread-reply', subject, projectId: plan.projectId, reply: { visibility: 'public', text } },
        ],
        await ticketOutboxFor(tx, subject, { actor: HEADS_UP_ACTOR, action: 'patch.plan.heads-up', text }),
      );
      return true;
    });
    if (done) sent.push(plan.id);
  }
  if (sent.length) deps.kickOutbox?.();
  return sent;
}
