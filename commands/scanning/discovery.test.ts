import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createProjectRow } from '../approvals/testing.js';
import { type DiscoveredServer, discoveredName, runDiscovery } from './discovery.js';
import type { TargetProviderPlugin } from './target-factory.js';
import { insertTestServer } from './testing.js';

const db = useTestDatabase('scan-discovery');
let deps: TestDeps;
let inventory: DiscoveredServer[] = [];

beforeAll(async () => {
  const plugin: TargetProviderPlugin = {
    target: async () => {
      throw new Error('discovery never builds a target');
    },
    discovery: () => ({ discover: async () => inventory }),
  };
  deps = createTestDeps(db.current.sql, { targetProviders: new Map([['aws', plugin]]) });
  const project = await createProjectRow(db.current.sql, 'cloud');
  await insertTestServer(db.current.sql, { name: 'web-1', projectId: project.id });
  await db.current.sql`
    insert into accounts (name, provider, config) values ('aws-prod', 'aws', ${db.current.sql.json({ project: 'cloud' })}),
                                                         ('dc-1', 'ssh', '{}')`;
});

describe('discovery', () => {
  it('adds new servers with safe unique names, flags them on the trail and in the channel, and skips bad ids', async () => {
    inventory = [
      {
        providerId: 'i-0abc',
        name: 'web server; rm -rf /',
        address: '10.1.2.3',
        tags: { Name: 'web server' },
        os: { family: 'debian', id: 'ubuntu', versionId: '22.04', idLike: ['debian'] },
      },
      { providerId: 'i-0def', name: 'web-1', address: 'not an address!' },
      { providerId: 'bad id; rm -rf /', name: 'x' },
    ];
    const [result] = await runDiscovery(deps);
    expect(result).toMatchObject({
      account: 'aws-prod',
      created: ['web-server-rm-rf', 'web-1-2'],
      updated: [],
      rejected: [{ providerId: 'bad id; rm -rf /', reason: 'not a valid provider id' }],
    });
    const rows = await db.current.sql<
      {
        name: string;
        project: string;
        address: string | null;
        provider: string;
        os: Record<string, string>;
      }[]
    >`
      select s.name, p.slug as project, s.address, s.provider, s.os from servers s join projects p on p.id = s.project_id
      where s.provider_id is not null order by s.name`;
    expect(rows).toEqual([
      { name: 'web-1-2', project: 'cloud', address: null, provider: 'aws', os: {} },
      {
        name: 'web-server-rm-rf',
        project: 'cloud',
        address: '10.1.2.3',
        provider: 'aws',
        os: { family: 'debian', id: 'ubuntu', versionId: '22.04' },
      },
    ]);
    const events = await db.current.sql<{ action: string }[]>`
      select action from audit_events where actor = 'job:discovery' order by seq`;
    expect(events.map((e) => e.action)).toEqual([
      'server.discovered',
      'server.discovered',
      'account.discovered',
    ]);
    const [post] = await db.current.sql<{ payload: { reply: { header: string } } }[]>`
      select payload from outbox where payload->>'kind' = 'channel-post'`;
    expect(post!.payload.reply.header).toBe('2 new servers found in aws-prod');
  });

  it('refreshes known servers by provider id and never duplicates them', async () => {
    inventory = [
      {
        providerId: 'i-0abc',
        name: 'renamed',
        address: '10.1.2.4',
        tags: { Name: 'web server' },
        os: { family: 'debian', id: 'ubuntu', versionId: '22.04' },
      },
      { providerId: 'i-0def', name: 'web-1', address: 'not an address!' },
    ];
    const [result] = await runDiscovery(deps);
    expect(result).toMatchObject({ created: [], updated: ['web-server-rm-rf'], unchanged: 1 });
    const [row] = await db.current.sql<
      { address: string }[]
    >`select address from servers where provider_id = 'i-0abc'`;
    expect(row!.address).toBe('10.1.2.4');
  });

  it('makes a name from the provider id when the given one is unusable', () => {
    expect(discoveredName('', '/subscriptions/x/virtualMachines/vm-7')).toBe('vm-7');
    expect(discoveredName('$(touch /tmp/x)', 'i-0abc')).toBe('touch-tmp-x');
    expect(discoveredName('日本語', 'i-0abc')).toBe('i-0abc');
  });
});
