import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createActor } from '../../commands/approvals/testing.js';
import { createRegistry } from '../../commands/index.js';
import { addIdentity } from '../../storage/users.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps } from '../../test/deps.js';
import { cardOf, cardText } from '../../test/fakes/teams-connector.js';
import type { MintOptions } from '../../test/fakes/teams-identity.js';
import { startTeamsHarness, type TeamsHarness, type TeamsUser } from './testing.js';

const db = useTestDatabase('teams_security');
let h: TeamsHarness;
let alice: TeamsUser;

beforeAll(async () => {
  const sql = db.current.sql;
  h = await startTeamsHarness(sql, createTestDeps(sql, { chatPlatforms: ['teams'] }), createRegistry());
  alice = h.newUser('Alice');
  const a = await createActor(sql, 'alice');
  await addIdentity(sql, { userId: a.user.id, platform: 'teams', externalId: alice.aad });
});

afterEach(() => h.connector.verify());
afterAll(() => h.stop());

async function state(): Promise<{ interactions: number; conversations: number; calls: number }> {
  const [row] = await db.current.sql<{ i: number; c: number }[]>`
    select (select count(*)::int from interactions) as i, (select count(*)::int from teams_conversations) as c`;
  return { interactions: row!.i, conversations: row!.c, calls: h.connector.server.requests.length };
}

/** Send, expect a refusal with one of `statuses`, and that nothing was stored or sent. */
async function refused(
  activity: Record<string, unknown>,
  options: { token?: string | null; mint?: MintOptions },
  statuses: number[] = [400, 401],
): Promise<number> {
  const before = await state();
  const res = await h.send(activity, options);
  expect(statuses).toContain(res.status);
  expect(await state()).toEqual(before);
  return res.status;
}

describe('Teams endpoint security', () => {
  const message = () => h.message(alice, 'whoami', 'personal');
  const otherTenant = randomUUID();

  it('accepts a good token (the control for every refusal below)', async () => {
    const msg = message();
    expect((await h.send(msg)).status).toBe(200);
    expect(cardText(cardOf(h.connector.replies(String(msg.id))[0]!.body))).toContain('alice');
  });

  it('accepts an Entra token issued by its own tenant', async () => {
    const iss = `https://login.microsoftonline.com/${h.tenantId}/v2.0`;
    expect((await h.send(message(), { mint: { iss, tid: h.tenantId } })).status).toBe(200);
  });

  it('refuses a request without a token with 401', async () => {
    expect(await refused(message(), { token: null })).toBe(401);
  });

  it('refuses a malformed Authorization header with 401', async () => {
    expect(await refused(message(), { token: 'not a jwt at all' })).toBe(401);
  });

  it('refuses a token for another audience', async () => {
    expect(await refused(message(), { mint: { aud: randomUUID() } })).toBe(401);
  });

  it('refuses a token from an unknown issuer', async () => {
    expect(await refused(message(), { mint: { iss: 'https://evil.example.com' } })).toBe(401);
  });

  it('refuses an Entra token from another tenant', async () => {
    const iss = `https://login.microsoftonline.com/${otherTenant}/v2.0`;
    expect(await refused(message(), { mint: { iss, tid: otherTenant } })).toBe(401);
  });

  it('refuses a token whose tenant claim differs from its issuer', async () => {
    const iss = `https://login.microsoftonline.com/${h.tenantId}/v2.0`;
    expect(await refused(message(), { mint: { iss, tid: otherTenant } })).toBe(401);
  });

  it('refuses an expired token (past the five minutes of allowed skew)', async () => {
    expect(await refused(message(), { mint: { expiresIn: -600 } })).toBe(401);
  });

  it('refuses a token that is not valid yet', async () => {
    expect(await refused(message(), { mint: { notBefore: 900 } })).toBe(401);
  });

  it('refuses a token signed with another key under the published key id', async () => {
    expect(await refused(message(), { mint: { key: h.identity.strangerKey() } })).toBe(401);
  });

  it('refuses a token naming a key id the JWKS does not have', async () => {
    expect(await refused(message(), { mint: { kid: 'nobody' } })).toBe(401);
  });

  it('refuses an unsigned token (alg none)', async () => {
    expect(await refused(message(), { mint: { alg: 'none' } })).toBe(401);
  });

  it('refuses an HS256 token keyed with the public key (algorithm confusion)', async () => {
    expect(await refused(message(), { mint: { alg: 'HS256' } })).toBe(401);
  });

  it('refuses a token without a serviceurl claim', async () => {
    expect(await refused(message(), { mint: { serviceurl: null } })).toBe(401);
  });

  it('refuses an activity whose serviceUrl is not the one its token was issued for', async () => {
    expect(await refused(message(), { mint: { serviceurl: 'https://smba.trafficmanager.net/emea/' } })).toBe(
      400,
    );
  });

  it('refuses a serviceurl claim on the same host but another port', async () => {
    const port = Number(new URL(h.connector.serviceUrl).port) + 1;
    expect(await refused(message(), { mint: { serviceurl: `http://127.0.0.1:${port}/` } })).toBe(400);
  });

  it('refuses an activity whose serviceUrl is outside the allowed hosts, even with a matching claim', async () => {
    const evil = 'https://evil.example.com/';
    expect(await refused({ ...message(), serviceUrl: evil }, { mint: { serviceurl: evil } })).toBe(400);
  });

  it('refuses an activity from another tenant with 401', async () => {
    const msg = {
      ...message(),
      channelData: { tenant: { id: otherTenant } },
      conversation: { id: 'a:1x', conversationType: 'personal', tenantId: otherTenant },
    };
    expect(await refused(msg, {})).toBe(401);
  });

  it('refuses a body that is not a Teams activity with 400', async () => {
    expect(await refused({ hello: 'world' }, {})).toBe(400);
    expect(await refused({ ...message(), conversation: { id: '../../v3/evil?x=1' } }, {})).toBe(400);
    expect(await refused({ ...message(), channelId: 'slack' }, {})).toBe(400);
  });

  it('refuses a body that is not JSON', async () => {
    const before = await state();
    const res = await h.app.request('/api/messages', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${h.identity.mint({ serviceurl: h.connector.serviceUrl })}`,
      },
      body: '{"type":',
    });
    expect(res.status).toBe(400);
    expect(await state()).toEqual(before);
  });

  it('checks the token before it reads the body', async () => {
    const res = await h.app.request('/api/messages', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(res.status).toBe(401);
  });

  it('treats hostile command text as text: an error reply, nothing run', async () => {
    for (const text of ['; rm -rf /', '$(reboot)', 'whoami\nrm -rf /', '\u202Ewhoami\u0000 ☠']) {
      const msg = h.message(alice, text, 'personal');
      expect((await h.send(msg)).status).toBe(200);
      const reply = cardText(cardOf(h.connector.replies(String(msg.id))[0]!.body));
      expect(reply.length).toBeGreaterThan(0);
    }
  });
});

describe('Teams endpoint durability', () => {
  it('fails the request (so Teams retries) when the activity cannot be recorded, and says nothing in chat', async () => {
    const sql = db.current.sql;
    await sql`alter table interactions rename to interactions_away`;
    try {
      const before = h.connector.server.requests.length;
      const msg = h.message(alice, 'whoami', 'personal');
      const res = await h.send(msg);
      expect(res.status).toBe(500);
      expect(h.connector.server.requests.length).toBe(before);
    } finally {
      await sql`alter table interactions_away rename to interactions`;
    }
  });
});
