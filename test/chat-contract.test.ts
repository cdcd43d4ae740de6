import { createChatDeliverer } from '../bot/chat/deliver.js';
import type { Platform } from '../bot/chat/model.js';
import { createConsolePlatform } from '../bot/console/platform.js';
import { consoleAction, consoleCommand } from '../bot/console/service.js';
import { slackContractDriver } from '../bot/slack/contract-driver.js';
import { teamsContractDriver } from '../bot/teams/contract-driver.js';
import { createOutboxWorker } from '../jobs/outbox-worker.js';
import { getConsoleMessage, listConsoleMessages } from '../storage/console.js';
import { addIdentity } from '../storage/users.js';
import {
  type ChatDriver,
  type ContractRole,
  type DriverFactory,
  replyText,
  runApprovalContract,
  type SeenMessage,
} from './chat-contract.js';

/** The console as a contract driver: the page's own service calls, one channel per project. */
const consoleDriver: DriverFactory = async (world) => {
  const channel = `c-${world.project.slug}`.slice(0, 60);
  await world.sql`update projects set channels = ${world.sql.json({ console: channel })} where id = ${world.project.id}`;
  for (const role of ['requester', 'approver', 'outsider'] as const) {
    const u = world.users[role];
    await addIdentity(world.sql, { userId: u.id, platform: 'console', externalId: u.handle });
  }
  const ctx = { deps: world.deps, registry: world.registry };
  const worker = createOutboxWorker({
    sql: world.sql,
    clock: world.deps.clock,
    log: world.deps.log,
    deliverers: {
      console: createChatDeliverer({
        sql: world.sql,
        platform: createConsolePlatform(world.sql, world.deps.clock),
        clock: world.deps.clock,
      }),
    },
  });
  const handle = (role: ContractRole) => world.users[role].handle;
  const seen = (m: { id: string | number; body: Parameters<typeof replyText>[0] }): SeenMessage => ({
    id: String(m.id),
    text: replyText(m.body),
    buttons: (m.body.buttons ?? []).map((b) => ({ label: b.label })),
  });
  const buttonsOf = new Map<string, NonNullable<Parameters<typeof replyText>[0]['buttons']>>();

  const driver: ChatDriver = {
    async sendCommand(as, text) {
      const out = await consoleCommand(ctx, { as: handle(as), channel, text: `/warden ${text}` });
      return out.filter((m) => m.author === 'warden').map(seen);
    },
    async deliver() {
      await worker.drainOnce();
    },
    async findApprovalMessage(requestId) {
      const all = await listConsoleMessages(world.sql, { channel, viewerId: null });
      const found = all.find(
        (m) => m.threadId === null && m.body.header?.startsWith(`Approval #${requestId}:`),
      );
      if (found) buttonsOf.set(String(found.id), found.body.buttons ?? []);
      return found ? seen(found) : undefined;
    },
    async click(as, message, label) {
      const button = (buttonsOf.get(message.id) ?? []).find((b) => b.label === label);
      if (!button) throw new Error(`no button ${label} on message ${message.id}`);
      const out = await consoleAction(ctx, {
        as: handle(as),
        channel,
        actionId: button.actionId,
        value: button.value,
        messageId: message.id,
      });
      if (!out || out.length === 0) throw new Error('the click changed nothing and said nothing');
      // A private answer is what the clicker reads; otherwise the message they clicked, as edited.
      const answer = out.find((m) => m.private) ?? out.find((m) => m.id === message.id) ?? out[0]!;
      return seen(answer);
    },
    async readMessage(id) {
      const m = await getConsoleMessage(world.sql, Number(id));
      if (!m) throw new Error(`no console message ${id}`);
      return seen(m);
    },
    async threadReplies(id) {
      const all = await listConsoleMessages(world.sql, { channel, viewerId: null });
      return all.filter((m) => m.threadId === Number(id)).map(seen);
    },
    async close() {
      await worker.stop();
    },
  };
  return driver;
};

/** Every chat adapter's driver: one approval scenario, three platforms. */
const drivers: [Platform, DriverFactory][] = [
  ['console', consoleDriver],
  ['slack', slackContractDriver],
  ['teams', teamsContractDriver],
];

for (const [name, factory] of drivers) runApprovalContract(name, factory);
