import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalSubjects } from '../../commands/approvals/subjects.js';
import { createActor, createProjectRow, uniqueHandle } from '../../commands/approvals/testing.js';
import { recordEvent } from '../../commands/audit/trail.js';
import { createRegistry } from '../../commands/index.js';
import { withTx } from '../../storage/db.js';
import { addIdentity, createUser, findUserByIdentity } from '../../storage/users.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { cardActions, cardOf, cardText } from '../../test/fakes/teams-connector.js';
import { startTeamsHarness, type TeamsHarness, type TeamsUser } from './testing.js';

const db = useTestDatabase('teams_e2e');
let h: TeamsHarness;
let deps: TestDeps;
let project: { id: number; slug: string };
let alice: TeamsUser;
let bob: TeamsUser;

beforeAll(async () => {
  const sql = db.current.sql;
  deps = createTestDeps(sql, { chatPlatforms: ['teams'], approvalSubjects: createApprovalSubjects() });
  h = await startTeamsHarness(sql, deps, createRegistry());
  project = await createProjectRow(sql, uniqueHandle('teams'));
  await sql`update projects set channels = ${sql.json({ teams: h.channel })} where id = ${project.id}`;
  alice = h.newUser('Alice');
  bob = h.newUser('Bob');
  const a = await createActor(sql, 'alice', [['operator', project.id]]);
  const b = await createActor(sql, 'bob', [['admin', null]]);
  await addIdentity(sql, { userId: a.user.id, platform: 'teams', externalId: alice.aad });
  await addIdentity(sql, { userId: b.user.id, platform: 'teams', externalId: bob.aad });
});

afterEach(() => h.connector.verify());
afterAll(() => h.stop());

async function interactions(): Promise<number> {
  const [row] = await db.current.sql<{ n: number }[]>`select count(*)::int as n from interactions`;
  return row!.n;
}

describe('Teams end to end', () => {
  it('answers a command typed in a personal chat with a card posted as a reply at the connector', async () => {
    const msg = h.message(alice, 'warden whoami', 'personal');
    const res = await h.send(msg);
    expect(res.status).toBe(200);
    const [reply] = h.connector.replies(String(msg.id));
    expect(reply).toBeDefined();
    expect(cardText(cardOf(reply!.body))).toContain('alice');
    expect(h.scopes).toContain('https://api.botframework.com');
  });

  it('links an unknown Teams user through the e-mail address in the roster', async () => {
    const carol = h.newUser('Carol');
    const user = await createUser(db.current.sql, {
      handle: 'carol',
      displayName: 'Carol',
      email: 'carol@example.com',
    });
    const msg = h.message(carol, 'whoami', 'personal');
    expect((await h.send(msg)).status).toBe(200);
    expect(cardText(cardOf(h.connector.replies(String(msg.id))[0]!.body))).toContain('carol');
    expect((await findUserByIdentity(db.current.sql, 'teams', carol.aad))?.id).toBe(user.id);
  });

  it('tells a Teams user nobody knows whom to ask, and changes nothing for them', async () => {
    const stranger = h.newUser('Stranger');
    h.connector.addConversation(h.personalChat(stranger)); // no roster entry: no e-mail
    const msg = h.message(stranger, 'whoami', 'personal');
    expect((await h.send(msg)).status).toBe(200);
    const text = cardText(cardOf(h.connector.replies(String(msg.id))[0]!.body));
    expect(text).toContain('Warden does not know you yet');
    expect(await findUserByIdentity(db.current.sql, 'teams', stranger.aad)).toBeUndefined();
  });

  it('stores the channel reference when added to a team and welcomes with the channel id', async () => {
    const res = await h.send(h.botAdded(bob, 'channel'));
    expect(res.status).toBe(200);
    const [row] = await db.current
      .sql`select kind, team_id, service_url from teams_conversations where conversation_id = ${h.channel}`;
    expect(row).toMatchObject({ kind: 'channel', team_id: h.channel, service_url: h.connector.serviceUrl });
    const welcome = h.connector.posts(h.channel).at(-1)!;
    expect(cardText(cardOf(welcome.body))).toContain(h.channel);
  });

  it('answers a private command in a channel with a short reply that names the fix', async () => {
    const msg = h.message(bob, 'warden whoami --loud', 'channel');
    expect((await h.send(msg)).status).toBe(200);
    const reply = h.connector.replies(String(msg.id))[0]!;
    expect(reply.conversationId).toBe(`${h.channel};messageid=${msg.id}`);
    expect(cardText(cardOf(reply.body))).toMatch(/Bob: .*--loud/);
  });

  it('runs an approval: card via the outbox, approve by click, card replaced in place, thread reply', async () => {
    const before = await interactions();
    const ask = h.message(
      alice,
      'warden role request approver on ' + project.slug + ' reason "on call"',
      'personal',
    );
    expect((await h.send(ask)).status).toBe(200);
    const answer = cardText(cardOf(h.connector.replies(String(ask.id))[0]!.body));
    const requestId = /Request #(\d+)/.exec(answer)?.[1];
    expect(requestId).toBeDefined();

    await h.worker.drainOnce();
    const card = h.connector
      .posts(h.channel)
      .find((p) => cardText(cardOf(p.body)).includes(`Approval #${requestId}`))!;
    expect(card).toBeDefined();
    const buttons = cardActions(cardOf(card.body));
    expect(buttons.map((b) => b.title)).toEqual(['Approve', 'Deny', 'Details']);
    expect(cardText(cardOf(h.connector.replies(card.id)[0]!.body))).toContain('bob');
    const approve = buttons[0]!;

    // The requester cannot approve their own request: an explaining card for her only.
    const self = await h.send(h.click(alice, card.id, approve.verb, approve.data));
    expect(self.status).toBe(200);
    const selfBody = (await self.json()) as { statusCode: number; type: string; value: unknown };
    expect(selfBody).toMatchObject({ statusCode: 200, type: 'application/vnd.microsoft.card.adaptive' });
    expect(cardText(selfBody.value)).toContain('someone else must decide it');
    expect(h.connector.updates(card.id)).toHaveLength(0);

    const click = await h.send(h.click(bob, card.id, approve.verb, approve.data));
    expect(click.status).toBe(200);
    const body = (await click.json()) as { statusCode: number; type: string; value: unknown };
    expect(body.statusCode).toBe(200);
    expect(cardText(body.value)).toMatch(/Approved: approved by bob/);
    expect(cardActions(body.value)).toEqual([]);
    const puts = h.connector.updates(card.id);
    expect(puts).toHaveLength(1);
    expect(cardText(cardOf(h.connector.activity(card.id)!.body))).toMatch(/approved by bob/);

    // A second click (a stale card elsewhere) counts once and explains.
    const again = await h.send(h.click(bob, card.id, approve.verb, approve.data));
    const againBody = (await again.json()) as { value: unknown };
    expect(cardText(againBody.value)).toMatch(/already|approved/i);
    expect(h.connector.updates(card.id)).toHaveLength(1);
    const [decisions] = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from approval_decisions where request_id = ${Number(requestId)}`;
    expect(decisions!.n).toBe(1);

    await h.worker.drainOnce();
    const thread = h.connector.replies(card.id).map((r) => cardText(cardOf(r.body)));
    expect(thread.some((t) => /approved/i.test(t) && t.includes('bob'))).toBe(true);
    // The requester hears about it in her personal chat with Warden.
    const dm = h.connector.posts(h.personalChat(alice)).at(-1)!;
    expect(cardText(cardOf(dm.body))).toMatch(/approved/i);
    expect(await interactions()).toBe(before + 4);
  });

  it('posts a digest to the project channel from a stored reference, without a user message', async () => {
    await withTx(db.current.sql, (tx) =>
      recordEvent(tx, deps, { actor: 'job:digest', action: 'digest.posted', projectId: project.id }, [
        {
          kind: 'channel-post',
          projectId: project.id,
          reply: {
            visibility: 'public',
            header: 'Daily compliance digest',
            items: Array.from({ length: 40 }, (_, i) => ({ text: `web-${i} needs 3 security updates` })),
            moreUrl: 'https://warden.example.com/compliance',
          },
        },
      ]),
    );
    await h.worker.drainOnce();
    const digest = h.connector.posts(h.channel).at(-1)!;
    const text = cardText(cardOf(digest.body));
    expect(text).toContain('Daily compliance digest');
    expect(text).toContain('…and 15 more');
    expect(cardActions(cardOf(digest.body))).toEqual([]);
  });

  it('retries a post Teams throttled, after its Retry-After, and posts it once', async () => {
    h.connector.server.rateLimitNext(`POST /v3/conversations/${h.channel}/activities`, {
      retryAfterSeconds: 30,
    });
    await withTx(db.current.sql, (tx) =>
      recordEvent(tx, deps, { actor: 'job:digest', action: 'digest.posted', projectId: project.id }, [
        {
          kind: 'channel-post',
          projectId: project.id,
          reply: { visibility: 'public', text: 'throttled digest' },
        },
      ]),
    );
    const count = () =>
      h.connector.posts(h.channel).filter((p) => cardText(cardOf(p.body)) === 'throttled digest').length;
    expect((await h.worker.drainOnce()).failed).toBe(1);
    const [row] = await db.current.sql<{ nextAttemptAt: Date }[]>`
      select next_attempt_at as "nextAttemptAt" from outbox where status = 'pending' order by id desc limit 1`;
    expect(row!.nextAttemptAt.getTime() - deps.clock.now().getTime()).toBeGreaterThanOrEqual(30_000);
    expect(count()).toBe(0);
    deps.clock.advance(3_600_000);
    expect((await h.worker.drainOnce()).delivered).toBe(1);
    expect(count()).toBe(1);
  });
});
