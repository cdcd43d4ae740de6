import type { ChatDriver, ContractRole, DriverFactory, SeenMessage } from '../../test/chat-contract.js';
import { unescapeSlackText } from './parse.js';
import { CHANNEL, clickPayload, nextId, type SlackAdapterHarness, startSlackAdapter } from './testing.js';

/**
 * The approval contract (test/chat-contract.ts) driven through Slack as Slack would: signed slash
 * commands and block_actions to /slack/events, private answers read from the response_url, and
 * what the channel sees read back from the fake workspace. Users are not linked up front: Warden
 * links each Slack user by the e-mail address users.info gives.
 */
export const slackContractDriver: DriverFactory = async (world) => {
  const tag = nextId('K');
  const ids = {} as Record<ContractRole, string>;
  for (const role of ['requester', 'approver', 'outsider'] as const)
    ids[role] = `U${tag}${role.toUpperCase()}`;
  const h: SlackAdapterHarness = await startSlackAdapter(world.sql, world.deps, world.registry, {
    users: (['requester', 'approver', 'outsider'] as const).map((role) => ({
      id: ids[role],
      name: world.users[role].handle,
      email: world.users[role].email,
    })),
  });
  await world.sql`update projects set channels = ${world.sql.json({ slack: CHANNEL })} where id = ${world.project.id}`;
  const blocksOf = new WeakMap<SeenMessage, unknown[]>();

  function seen(id: string, body: { text?: unknown; blocks?: unknown }): SeenMessage {
    const blocks = Array.isArray(body.blocks) ? body.blocks : [];
    const text = blocks.length > 0 ? blocksText(blocks) : unescapeSlackText(String(body.text ?? ''));
    const message = { id, text, buttons: buttonsOf(blocks).map((b) => ({ label: b.label })) };
    blocksOf.set(message, blocks);
    return message;
  }

  function channelMessage(ts: string): SeenMessage {
    const m = h.slack.messages(CHANNEL).find((x) => x.ts === ts);
    if (!m) throw new Error(`no message ${ts} in ${CHANNEL}`);
    return seen(m.ts, m);
  }

  const driver: ChatDriver = {
    async sendCommand(as, text) {
      const responseId = nextId('contract-cmd-');
      const res = await h.command(text, ids[as], { response_url: h.slack.responseUrl(responseId) });
      if (res.status !== 200) throw new Error(`the command answered ${res.status}`);
      const raw = await res.text();
      await h.slackApp.idle();
      const ack = raw === '' ? [] : [seen(`ack-${responseId}`, JSON.parse(raw) as Record<string, unknown>)];
      const later = h.slack.responses(responseId).map((r, i) => seen(`${responseId}-${i}`, r));
      return [...ack, ...later];
    },
    async deliver() {
      await h.slackApp.idle();
      await h.worker.drainOnce();
    },
    async findApprovalMessage(requestId) {
      const found = h.slack
        .messages(CHANNEL)
        .find(
          (m) =>
            (m.threadTs === undefined || m.threadTs === m.ts) &&
            blocksText(m.blocks ?? []).includes(`Approval #${requestId}:`),
        );
      return found ? seen(found.ts, found) : undefined;
    },
    async click(as, message, label) {
      const button = buttonsOf(blocksOf.get(message) ?? []).find((b) => b.label === label);
      if (!button) throw new Error(`no button ${label} on message ${message.id}`);
      const responseId = nextId('contract-click-');
      const res = await h.interactive(
        clickPayload(
          { slack: h.slack },
          { user: ids[as], actionId: button.actionId, value: button.value, ts: message.id, responseId },
        ),
      );
      if (res.status !== 200) throw new Error(`the click answered ${res.status}`);
      await h.slackApp.idle();
      // A private answer is what the clicker reads; otherwise the message they clicked, as edited.
      const privately = h.slack
        .responses(responseId)
        .filter((r) => r.response_type === 'ephemeral' || r.replace_original === false);
      const last = privately.at(-1);
      return last ? seen(message.id, last) : channelMessage(message.id);
    },
    async readMessage(id) {
      return channelMessage(id);
    },
    async threadReplies(id) {
      return h.slack
        .thread(CHANNEL, id)
        .filter((m) => m.ts !== id)
        .map((m) => seen(m.ts, m));
    },
    async close() {
      try {
        h.slack.verify();
      } finally {
        await h.stop();
      }
    },
  };
  return driver;
};

interface SlackButton {
  label: string;
  actionId: string;
  value: string;
}

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

function buttonsOf(blocks: unknown[]): SlackButton[] {
  const out: SlackButton[] = [];
  for (const block of blocks) {
    if (!isNode(block) || block.type !== 'actions' || !Array.isArray(block.elements)) continue;
    for (const el of block.elements) {
      if (!isNode(el) || el.type !== 'button' || !isNode(el.text)) continue;
      out.push({
        label: String(el.text.text),
        actionId: String(el.action_id),
        value: String(el.value ?? ''),
      });
    }
  }
  return out;
}

/** The text a person reads in Block Kit blocks, one piece per line, buttons left out. */
function blocksText(blocks: unknown[]): string {
  const lines: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (!isNode(node) || node.type === 'actions' || node.type === 'button') return;
    if (typeof node.text === 'string') lines.push(unescapeSlackText(node.text));
    for (const [key, value] of Object.entries(node)) if (key !== 'text' || isNode(value)) walk(value);
  };
  walk(blocks);
  return lines.join('\n');
}
