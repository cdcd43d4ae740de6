import { describe, expect, it } from 'vitest';
import type { Platform, Reply } from '../bot/chat/model.js';
import { createApprovalSubjects } from '../commands/approvals/subjects.js';
import { createProjectRow, uniqueHandle } from '../commands/approvals/testing.js';
import { createRegistry } from '../commands/index.js';
import type { Registry } from '../commands/registry.js';
import type { Sql } from '../storage/db.js';
import { bindRole, createUser, listBindings } from '../storage/users.js';
import { useTestDatabase } from './db.js';
import { createTestDeps, type TestDeps } from './deps.js';

/**
 * One approval scenario, run against every chat adapter through a small driver, so the neutral
 * model stays neutral: whatever the platform, a request gets one message with Approve / Deny /
 * Details, the requester and a non-approver are refused without changing it, an eligible
 * approver's click edits it in place for everyone and shows who decided, a second click counts
 * once, and the conversation goes on in the message's thread.
 *
 * Adding a platform: implement `ChatDriver` beside its adapter (e.g. bot/slack/contract-driver.ts
 * exporting a `DriverFactory`), and add one `[name, factory]` entry to the list in
 * test/chat-contract.test.ts. The driver links the world's three users to its platform, sends
 * their commands and clicks the way the platform would deliver them, and reads back what each
 * person sees.
 */
export type ContractRole = 'requester' | 'approver' | 'outsider';

export interface ContractWorld {
  sql: Sql;
  /** Deps whose chatPlatforms is only the driver's platform; a fake clock. */
  deps: TestDeps;
  registry: Registry;
  project: { id: number; slug: string };
  users: Record<ContractRole, { id: number; handle: string; displayName: string; email: string }>;
}

export interface SeenButton {
  label: string;
}

/** A message as a person sees it: its id on the platform, its visible text, its buttons. */
export interface SeenMessage {
  id: string;
  text: string;
  buttons: SeenButton[];
}

export interface ChatDriver {
  /** `text` is the command without `/warden` or a mention; returns the answers the sender sees. */
  sendCommand(as: ContractRole, text: string): Promise<SeenMessage[]>;
  /** Run the outbox until nothing is due (posts, updates, thread replies). */
  deliver(): Promise<void>;
  /** The shared message of approval request `requestId` in the project's channel. */
  findApprovalMessage(requestId: number): Promise<SeenMessage | undefined>;
  /** Click the button labelled `label` on `message` (possibly a stale copy); returns what the clicker sees. */
  click(as: ContractRole, message: SeenMessage, label: string): Promise<SeenMessage>;
  /** The message as everyone in the channel sees it now. */
  readMessage(id: string): Promise<SeenMessage>;
  /** Replies in the thread under the message, oldest first. */
  threadReplies(id: string): Promise<SeenMessage[]>;
  close(): Promise<void>;
}

export type DriverFactory = (world: ContractWorld) => Promise<ChatDriver>;

/** Everything a person reads in a neutral reply, one piece per line (for drivers of text platforms). */
export function replyText(reply: Reply): string {
  return [
    reply.header,
    reply.text,
    ...(reply.fields ?? []).map((f) => `${f.label}: ${f.value}`),
    ...(reply.items ?? []).map((i) => (i.detail ? `${i.text} ${i.detail}` : i.text)),
    ...(reply.context ?? []),
  ]
    .filter((line): line is string => typeof line === 'string' && line.length > 0)
    .join('\n');
}

async function seedWorld(sql: Sql, platform: Platform): Promise<Omit<ContractWorld, 'sql'>> {
  const deps = createTestDeps(sql, { chatPlatforms: [platform], approvalSubjects: createApprovalSubjects() });
  const project = await createProjectRow(sql, uniqueHandle('contract'));
  const users = {} as ContractWorld['users'];
  for (const role of ['requester', 'approver', 'outsider'] as const) {
    const handle = uniqueHandle(role);
    const user = await createUser(sql, { handle, displayName: role, email: `${handle}@example.com` });
    users[role] = {
      id: user.id,
      handle: user.handle,
      displayName: user.displayName,
      email: `${handle}@example.com`,
    };
  }
  await bindRole(sql, { userId: users.requester.id, role: 'operator', projectId: project.id });
  await bindRole(sql, { userId: users.outsider.id, role: 'operator', projectId: project.id });
  // Deciding a role request needs users:manage, which admins hold.
  await bindRole(sql, { userId: users.approver.id, role: 'admin', projectId: null });
  return { deps, registry: createRegistry(), project, users };
}

/** Register the approval contract for one platform's driver. */
export function runApprovalContract(driverName: Platform, makeDriver: DriverFactory): void {
  describe(`the approval contract on ${driverName}`, () => {
    const db = useTestDatabase(`contract_${driverName}`);
    let world: ContractWorld;
    let driver: ChatDriver;
    let requestId = 0;
    let pending: SeenMessage;

    const labels = (m: SeenMessage) => m.buttons.map((b) => b.label);
    async function decisions(): Promise<number> {
      const [row] = await world.sql<{ n: number }[]>`
        select count(*)::int as n from approval_decisions where request_id = ${requestId}`;
      return row!.n;
    }
    async function unchanged(): Promise<void> {
      const now = await driver.readMessage(pending.id);
      expect(now.text).toContain('Waiting for approval');
      expect(labels(now)).toEqual(labels(pending));
      expect(await decisions()).toBe(0);
    }

    it('posts one approval message with Approve, Deny and Details for a new request', async () => {
      world = { sql: db.current.sql, ...(await seedWorld(db.current.sql, driverName)) };
      driver = await makeDriver(world);
      const answers = await driver.sendCommand(
        'requester',
        `role request approver on ${world.project.slug} reason "on call this week"`,
      );
      const id = answers.map((a) => /Request #(\d+)/.exec(a.text)?.[1]).find(Boolean);
      expect(id).toBeDefined();
      requestId = Number(id);
      await driver.deliver();
      const message = await driver.findApprovalMessage(requestId);
      expect(message).toBeDefined();
      pending = message!;
      expect(labels(pending)).toEqual(['Approve', 'Deny', 'Details']);
      expect(pending.text).toContain('Waiting for approval');
      expect(pending.text).toContain('on call this week');
    });

    it("refuses the requester's own approval, tells only them, and changes nothing", async () => {
      const seen = await driver.click('requester', pending, 'Approve');
      expect(seen.text).toContain('someone else must decide');
      await unchanged();
    });

    it('refuses a click by someone without the permission, naming who can decide', async () => {
      const seen = await driver.click('outsider', pending, 'Approve');
      expect(seen.text).toContain('you cannot decide');
      expect(seen.text).toContain(world.users.approver.handle);
      await unchanged();
    });

    it('shows the details privately without changing the message', async () => {
      const seen = await driver.click('outsider', pending, 'Details');
      expect(seen.text).toContain('Who may decide');
      await unchanged();
    });

    it("approves on an eligible approver's click and edits the message in place for everyone", async () => {
      const seen = await driver.click('approver', pending, 'Approve');
      expect(seen.text).toContain(`approved by ${world.users.approver.handle}`);
      expect(labels(seen)).toEqual([]);
      const now = await driver.readMessage(pending.id);
      expect(now.text).toContain(`Approved: approved by ${world.users.approver.handle}`);
      expect(labels(now)).toEqual([]);
      const bound = await listBindings(world.sql, world.users.requester.id);
      expect(bound.some((b) => b.role === 'approver' && b.projectId === world.project.id)).toBe(true);
      expect(await decisions()).toBe(1);
    });

    it('counts a second click on a stale copy once, and explains', async () => {
      const seen = await driver.click('approver', pending, 'Approve');
      expect(seen.text).toMatch(/already approved|was approved|Approved/i);
      expect(await decisions()).toBe(1);
      const now = await driver.readMessage(pending.id);
      expect(now.text).toContain(`Approved: approved by ${world.users.approver.handle}`);
    });

    it("continues the conversation in the message's thread", async () => {
      await driver.deliver();
      const replies = await driver.threadReplies(pending.id);
      expect(replies.length).toBeGreaterThanOrEqual(2);
      expect(
        replies.some((r) => r.text.includes(world.users.approver.handle) && /approved/i.test(r.text)),
      ).toBe(true);
      await driver.close();
    });
  });
}
