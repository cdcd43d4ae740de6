import type { ChatDriver, ContractRole, DriverFactory, SeenMessage } from '../../test/chat-contract.js';
import { cardActions, cardOf, cardText } from '../../test/fakes/teams-connector.js';
import { startTeamsHarness, type TeamsUser } from './testing.js';

/**
 * The approval contract (test/chat-contract.ts) driven through Teams as Teams would: signed
 * activities to /api/messages, Action.Execute invokes for clicks, and what people see read back
 * from the fake Bot Connector. Users are not linked up front: Warden links them by the e-mail
 * address the roster gives.
 */
export const teamsContractDriver: DriverFactory = async (world) => {
  const h = await startTeamsHarness(world.sql, world.deps, world.registry);
  await world.sql`update projects set channels = ${world.sql.json({ teams: h.channel })} where id = ${world.project.id}`;
  const people = {} as Record<ContractRole, TeamsUser>;
  for (const role of ['requester', 'approver', 'outsider'] as const) {
    // The harness's roster gives each person <name>@example.com, the Warden user's address.
    people[role] = h.newUser(world.users[role].handle);
  }
  const added = await h.send(h.botAdded(people.approver, 'channel'));
  if (added.status !== 200) throw new Error(`adding the bot answered ${added.status}`);
  const cards = new WeakMap<SeenMessage, unknown>();

  function seen(id: string, card: unknown): SeenMessage {
    const message = { id, text: cardText(card), buttons: cardActions(card).map((a) => ({ label: a.title })) };
    cards.set(message, card);
    return message;
  }

  const driver: ChatDriver = {
    async sendCommand(as, text) {
      const msg = h.message(people[as], text, 'personal');
      const res = await h.send(msg);
      if (res.status !== 200) throw new Error(`the command answered ${res.status}`);
      return h.connector.replies(String(msg.id)).map((r) => seen(r.id, cardOf(r.body)));
    },
    async deliver() {
      await h.worker.drainOnce();
    },
    async findApprovalMessage(requestId) {
      const post = h.connector
        .posts(h.channel)
        .find((p) => cardText(cardOf(p.body)).includes(`Approval #${requestId}:`));
      return post ? seen(post.id, cardOf(post.body)) : undefined;
    },
    async click(as, message, label) {
      const action = cardActions(cards.get(message)).find((a) => a.title === label);
      if (!action) throw new Error(`no button ${label} on message ${message.id}`);
      const res = await h.send(h.click(people[as], message.id, action.verb, action.data));
      if (res.status !== 200) throw new Error(`the click answered ${res.status}`);
      const body = (await res.json()) as { statusCode: number; type: string; value: unknown };
      if (body.type === 'application/vnd.microsoft.error') {
        return { id: message.id, text: String((body.value as { message?: unknown }).message), buttons: [] };
      }
      return seen(message.id, body.value);
    },
    async readMessage(id) {
      const activity = h.connector.activity(id);
      if (!activity) throw new Error(`no message ${id}`);
      return seen(id, cardOf(activity.body));
    },
    async threadReplies(id) {
      return h.connector.replies(id).map((r) => seen(r.id, cardOf(r.body)));
    },
    async close() {
      h.connector.verify();
      await h.stop();
    },
  };
  return driver;
};
