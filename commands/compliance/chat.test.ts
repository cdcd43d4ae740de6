import { beforeAll, describe, expect, it } from 'vitest';
import type { CommandInteraction, Reply } from '../../bot/chat/model.js';
import { saveBaselineState } from '../../storage/compliance.js';
import { withTx } from '../../storage/db.js';
import { addIdentity } from '../../storage/users.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createRegistry } from '../index.js';
import { handleInteraction } from '../router.js';
import { alertBaselineDrift } from './alerts.js';
import { evaluateCompliance } from './evaluate.js';
import { ago, buildFleet, type Fleet, HOUR, NOW } from './testing.js';

const db = useTestDatabase('compliance-chat');
let deps: TestDeps;
let fleet: Fleet;
let seq = 0;

async function say(handle: string, text: string): Promise<Reply> {
  const interaction: CommandInteraction = {
    kind: 'command',
    text,
    user: { platform: 'console', externalId: handle },
    channel: 'prod',
    dedupeKey: `c${++seq}`,
    receivedAt: deps.clock.now(),
  };
  const result = await handleInteraction(interaction, deps, createRegistry());
  return result.reply!;
}

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  fleet = await buildFleet(deps);
  for (const handle of ['alice', 'admin', 'owner']) {
    const [user] = await db.current.sql<{ id: number }[]>`select id from users where handle = ${handle}`;
    await addIdentity(db.current.sql, { userId: user!.id, platform: 'console', externalId: handle });
  }
});

describe('/warden compliance', () => {
  it("lists a project's servers that are not compliant, worst first, with every reason and since when", async () => {
    const reply = await say('alice', 'compliance prod');
    expect(reply.header).toBe('Compliance of prod: 30% compliant');
    expect(reply.text).toBe(
      '3 of 10 servers compliant, 5 non-compliant, 2 unknown (stale or never scanned); 6 security updates pending.',
    );
    expect(reply.items?.map((i) => i.text)).toEqual([
      'web-03: non-compliant for 3d',
      'cache-01: non-compliant for 10d',
      'cache-02: non-compliant for 3h',
      'cache-03: non-compliant for 1d6h',
      'db-01: non-compliant for 10d',
      'db-02: unknown for 4d',
      'db-03: unknown for 60d',
    ]);
    expect(reply.items?.[3]?.detail).toBe(
      'last good scan older than 8d (stale for 12d) · 1 authorized key Warden does not know (audit 1d6h ago) · owner @owner',
    );
  });

  it('shows a caller only the projects they may read, and refuses the others', async () => {
    const mine = await say('alice', 'compliance');
    expect(mine.items?.map((i) => i.text)).toEqual(['prod: 30% compliant, 3 of 10 servers']);
    const all = await say('admin', 'compliance');
    expect(all.items?.map((i) => i.text)).toEqual([
      'prod: 30% compliant, 3 of 10 servers',
      'staging: 50% compliant, 1 of 2 servers',
    ]);
    expect(await say('alice', 'compliance staging')).toMatchObject({
      tone: 'error',
      text: expect.stringContaining('you need the compliance:read permission on project staging'),
    });
    expect(await say('owner', 'compliance')).toMatchObject({ tone: 'error' });
  });

  it('treats hostile project names as names that do not exist', async () => {
    for (const name of ['"; rm -rf /"', '"$(touch /tmp/pwned)"', '"prod\nstaging"', '"prød"']) {
      const reply = await say('admin', `compliance ${name}`);
      expect(reply.tone).toBe('error');
      expect(reply.text).toMatch(/there is no project/);
    }
  });

  it('re-evaluates a project when its standards change', async () => {
    await evaluateCompliance(deps);
    await db.current.sql`
      update projects set settings = settings || ${db.current.sql.json({ compliance: { securityPatchDays: 14, digest: { time: '09:00', timezone: 'Europe/Paris' } } })}
      where id = ${fleet.prodId}`;
    const summary = await evaluateCompliance(deps);
    expect(summary.evaluated).toBe(10);
    const [web03] = await db.current.sql`
      select c.state from server_compliance_state c join servers s on s.id = c.server_id where s.name = 'web-03'`;
    expect(web03).toEqual({ state: 'compliant' });
  });
});

describe('incremental evaluation', () => {
  it('looks again only at servers whose facts changed: a retired key, a move to another project', async () => {
    await evaluateCompliance(deps);
    expect(await evaluateCompliance(deps)).toEqual({ evaluated: 0, changed: 0, alerts: 0 });
    const cache01 = fleet.servers['cache-01']!;
    await db.current.sql`
      update keys set retired_at = ${NOW}, retired_reason = 'rotated'
      where id in (select key_id from key_installations where server_id = ${cache01})`;
    await db.current
      .sql`update servers set project_id = ${fleet.stagingId} where id = ${fleet.servers['db-03']!}`;
    expect(await evaluateCompliance(deps)).toEqual({ evaluated: 2, changed: 2, alerts: 0 });
    const rows = await db.current.sql`
      select s.name, c.state, c.project_id as "projectId" from server_compliance_state c
      join servers s on s.id = c.server_id where s.id in (${cache01}, ${fleet.servers['db-03']!}) order by s.name`;
    expect(rows).toEqual([
      { name: 'cache-01', state: 'compliant', projectId: fleet.prodId },
      { name: 'db-03', state: 'unknown', projectId: fleet.stagingId },
    ]);
    expect(await evaluateCompliance(deps)).toEqual({ evaluated: 0, changed: 0, alerts: 0 });
  });
});

describe('baseline drift, reported by the baselines capability', () => {
  it('makes the server non-compliant and alerts once per drift, not on every run', async () => {
    const server = fleet.servers['web-01']!;
    await saveBaselineState(db.current.sql, {
      serverId: server,
      at: ago(HOUR),
      checksTotal: 12,
      failing: ['ssh-root-login'],
    });
    const drift = {
      serverId: server,
      serverName: 'web-01',
      projectId: fleet.prodId,
      checkId: 'ssh-root-login',
      title: 'SSH root login disabled',
      failingSince: ago(HOUR),
    };
    expect(await withTx(deps.sql, (tx) => alertBaselineDrift(tx, deps, drift))).toBe(true);
    expect(await withTx(deps.sql, (tx) => alertBaselineDrift(tx, deps, drift))).toBe(false);
    expect(
      await withTx(deps.sql, (tx) => alertBaselineDrift(tx, deps, { ...drift, failingSince: NOW })),
    ).toBe(true);
    await evaluateCompliance(deps);
    const [row] = await db.current.sql`
      select state, reason_codes as codes from server_compliance_state where server_id = ${server}`;
    expect(row).toEqual({ state: 'non-compliant', codes: ['baseline-failing'] });
    const posts = await db.current.sql<{ payload: { reply: Reply } }[]>`
      select payload from outbox where kind = 'channel-post' and payload -> 'reply' ->> 'header' = 'Compliance alert'
      order by id`;
    expect(posts.map((p) => p.payload.reply.items?.[0]?.text)).toEqual([
      'web-01: baseline check "SSH root login disabled" (ssh-root-login) passed before and now fails',
      'web-01: baseline check "SSH root login disabled" (ssh-root-login) passed before and now fails',
    ]);
  });
});
