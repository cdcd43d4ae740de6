import type { types } from '@slack/bolt';
import { formatUtc, oneLine } from '../../commands/approvals/render.js';
import { mayDecide } from '../../commands/approvals/state.js';
import type { Deps } from '../../commands/deps.js';
import { listProjects } from '../../commands/inventory/projects.js';
import { type Actor, loadActor } from '../../commands/rbac/authorize.js';
import { resolveUser } from '../../commands/router.js';
import { isAppError } from '../../lib/errors.js';
import { countApprovals, listPendingByRequester, listPendingNotDecidedBy } from '../../storage/approvals.js';
import type { ListItem, PlatformUser, Reply } from '../chat/model.js';
import { BLOCK_LIMITS, mrkdwn, renderReply, type SlackBlock } from './render.js';

/**
 * The App Home tab: what waits for the user's decision (with the same buttons as the channel
 * message), their own open requests, their access grants, and a compliance summary of their
 * projects. Each part shows what Warden has today and says plainly what it does not have yet.
 */

/** A later capability fills these in; until then the tab says so. */
export interface HomeSources {
  /** The user's active access grants. */
  grants?: (deps: Deps, actor: Actor) => Promise<ListItem[]>;
  /** Per project: last scan ages and compliance, keyed by project id. */
  compliance?: (deps: Deps, actor: Actor, projectIds: number[]) => Promise<Map<number, string>>;
}

const MAX_APPROVALS = 15;

function divider(): SlackBlock {
  return { type: 'divider' };
}

function approvalBlocks(
  requests: Awaited<ReturnType<typeof listPendingNotDecidedBy>>,
  counts: Map<number, number>,
): SlackBlock[] {
  const blocks: SlackBlock[] = [];
  for (const r of requests.slice(0, MAX_APPROVALS)) {
    const got = counts.get(r.id) ?? 0;
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: mrkdwn(
          `#${r.id} ${oneLine(r.title, 150)}\n${got} of ${r.requiredApprovals} approvals · expires ${formatUtc(r.expiresAt)}`,
          BLOCK_LIMITS.sectionText,
        ),
      },
    });
    const value = String(r.id);
    blocks.push({
      type: 'actions',
      block_id: `home-approval-${r.id}`,
      elements: [
        {
          type: 'button',
          text: { type: 'plain_text', text: 'Approve' },
          action_id: 'approval.approve',
          value,
          style: 'primary',
        },
        {
          type: 'button',
          text: { type: 'plain_text', text: 'Deny' },
          action_id: 'approval.deny',
          value,
          style: 'danger',
        },
        {
          type: 'button',
          text: { type: 'plain_text', text: 'Details' },
          action_id: 'approval.details',
          value,
        },
      ],
    });
  }
  if (requests.length > MAX_APPROVALS) {
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `…and ${requests.length - MAX_APPROVALS} more. Type \`/warden approvals\` to list them all.`,
        },
      ],
    });
  }
  return blocks;
}

function part(reply: Reply, budget: number): SlackBlock[] {
  return budget <= 0 ? [] : renderReply(reply, { maxBlocks: budget }).blocks;
}

async function projectSummary(deps: Deps, actor: Actor, sources: HomeSources): Promise<Reply> {
  let projects: Awaited<ReturnType<typeof listProjects>>;
  try {
    projects = await listProjects({}, deps, actor);
  } catch (error) {
    if (isAppError(error) && error.code === 'forbidden') {
      return {
        visibility: 'private',
        header: 'Your projects',
        text: 'You cannot see any project yet: ask an admin for a role on one.',
      };
    }
    throw error;
  }
  if (projects.length === 0) {
    return { visibility: 'private', header: 'Your projects', text: 'There are no projects yet.' };
  }
  const scans = sources.compliance
    ? await sources.compliance(
        deps,
        actor,
        projects.map((p) => p.id),
      )
    : undefined;
  return {
    visibility: 'private',
    header: 'Your projects',
    items: projects.map((p) => ({
      text: `${p.slug}: ${p.serverCount} server${p.serverCount === 1 ? '' : 's'}`,
      detail: scans?.get(p.id) ?? 'no scan results in Warden yet',
    })),
    ...(scans ? {} : { context: ['Scan ages and compliance appear here once scanning is set up.'] }),
  };
}

/** The Home tab for a Slack user; `notice` (an answer to a click on the tab) goes at the top. */
export async function buildHomeView(
  deps: Deps,
  who: PlatformUser,
  options: { sources?: HomeSources; notice?: Reply } = {},
): Promise<types.HomeView> {
  const blocks: SlackBlock[] = [];
  const max = BLOCK_LIMITS.viewBlocks;
  if (options.notice) blocks.push(...part(options.notice, 6), divider());
  const user = await resolveUser(deps, who);
  if (!user || user.disabled) {
    const text = user
      ? `Your Warden user @${user.handle} is disabled. Ask an admin to re-enable it.`
      : `Warden does not know your Slack account (${who.externalId}) yet. Ask a Warden admin to add you with the e-mail address of your Slack profile, then open this tab again.`;
    blocks.push(...part({ visibility: 'private', header: 'Warden', text, tone: 'warning' }, 10));
    return { type: 'home', blocks };
  }
  const actor = await loadActor(deps.sql, user, 'slack');
  const now = deps.clock.now();
  const candidates = await listPendingNotDecidedBy(deps.sql, user.id, now);
  const forMe = candidates.filter((r) => mayDecide(actor, r));
  const mine = await listPendingByRequester(deps.sql, user.id, now);
  const counts = await countApprovals(
    deps.sql,
    [...forMe, ...mine].map((r) => r.id),
  );

  blocks.push({
    type: 'header',
    text: { type: 'plain_text', text: `Warden for @${user.handle}`.slice(0, 150) },
  });
  blocks.push(
    ...part(
      {
        visibility: 'private',
        header: `Waiting for your decision (${forMe.length})`,
        ...(forMe.length ? {} : { text: 'Nothing waits for your decision.' }),
      },
      2,
    ),
  );
  blocks.push(...approvalBlocks(forMe, counts), divider());

  const mineReply: Reply = {
    visibility: 'private',
    header: `Your open requests (${mine.length})`,
    ...(mine.length
      ? {
          items: mine.map((r) => ({
            text: `#${r.id} ${oneLine(r.title, 120)}`,
            detail: `${counts.get(r.id) ?? 0} of ${r.requiredApprovals} approvals · expires ${formatUtc(r.expiresAt)}`,
          })),
        }
      : { text: 'You have no open requests.' }),
  };
  const grants = options.sources?.grants ? await options.sources.grants(deps, actor) : undefined;
  const grantsReply: Reply = {
    visibility: 'private',
    header: 'Your access grants',
    ...(grants === undefined
      ? { text: 'No grants yet: time-bound server access is not part of this Warden yet.' }
      : grants.length
        ? { items: grants }
        : { text: 'You hold no active grants.' }),
  };
  const projects = await projectSummary(deps, actor, options.sources ?? {});
  // Keep room for what follows each part; every part is cut to what is left.
  blocks.push(...part(mineReply, Math.min(12, max - blocks.length - 16)), divider());
  blocks.push(...part(grantsReply, Math.min(12, max - blocks.length - 12)), divider());
  blocks.push(...part(projects, max - blocks.length));
  return { type: 'home', blocks: blocks.slice(0, max) };
}
