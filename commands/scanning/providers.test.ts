import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { type FakeAzure, startFakeAzure } from '../../test/fakes/azure.js';
import { type FakeSsm, type SsmPatch, startFakeSsm } from '../../test/fakes/ssm.js';
import { createActor, createProjectRow } from '../approvals/testing.js';
import { createAccount } from '../inventory/accounts.js';
import { createServer } from '../inventory/servers.js';
import type { Actor } from '../rbac/authorize.js';
import { runDiscovery } from './discovery.js';
import { accountSecretContext } from './provider-settings.js';
import { createCloudProviders } from './providers.js';
import { startScan } from './scan.js';
import { createTargetFactory, type TargetFactory } from './target-factory.js';

/**
 * AWS SSM and Azure plugged into scanning and discovery from `accounts` rows, end to end through
 * the strict fakes: the credentials go in through createAccount (sealed), come out of the vault
 * in the plugin, and are what the fakes check (the SigV4 key id; Azure's bearer token is the
 * unsealed client secret itself, so a wrong unseal cannot pass).
 */
const db = useTestDatabase('scan-providers');
const SUB = '6f0c2d1e-1a2b-4c3d-9e8f-0123456789ab';
const ACCESS_KEY = 'AKIDWARDENTEST01';
const CLIENT_SECRET = 'azure-client-secret-from-the-vault';
const APP_1 = 'i-0aaaaaaaaaaaaaaa1';
let ssm: FakeSsm;
let azure: FakeAzure;
let deps: TestDeps;
let targets: TargetFactory;
let admin: Actor;
const cloud = createCloudProviders({
  azureCredential: ({ clientSecret }) => ({
    getToken: async () => ({ token: clientSecret, expiresOnTimestamp: Date.now() + 3_600_000 }),
  }),
});

const PATCHES: SsmPatch[] = [
  {
    Title: 'openssl.x86_64:1:3.0.7-27.el9',
    KBId: 'openssl.x86_64',
    Classification: 'Security',
    Severity: 'Critical',
    State: 'Missing',
    InstalledTime: 0,
    CVEIds: 'CVE-2024-5535',
  },
  {
    Title: 'tzdata.noarch:0:2024a-1.el9',
    KBId: 'tzdata.noarch',
    Classification: 'Enhancement',
    Severity: 'None',
    State: 'Missing',
    InstalledTime: 0,
  },
];

beforeAll(async () => {
  ssm = await startFakeSsm({ accessKeyId: ACCESS_KEY, region: 'eu-west-1' });
  azure = await startFakeAzure({ subscriptionId: SUB, token: CLIENT_SECRET });
  targets = createTargetFactory();
  deps = createTestDeps(db.current.sql, { targets, targetProviders: cloud.providers });
  const project = await createProjectRow(db.current.sql, 'cloud');
  await db.current.sql`update projects set channels = '{"console": "cloud"}' where id = ${project.id}`;
  admin = await createActor(db.current.sql, 'ada', [['admin', null]]);
  await createAccount(
    {
      name: 'aws-prod',
      provider: 'aws',
      config: { region: 'eu-west-1', endpoint: ssm.url, project: 'cloud', pollIntervalMs: 5, maxAttempts: 3 },
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: 'not-checked-by-the-fake' },
    },
    deps,
    admin,
  );
  await createAccount(
    {
      name: 'azure-prod',
      provider: 'azure',
      config: {
        subscriptionId: SUB,
        tenantId: '11111111-2222-3333-4444-555555555555',
        clientId: '66666666-7777-8888-9999-000000000000',
        endpoint: azure.url,
        tlsCa: azure.ca,
        project: 'cloud',
        pollIntervalMs: 5,
        retryDelayMs: 20,
      },
      credentials: { clientSecret: CLIENT_SECRET },
    },
    deps,
    admin,
  );
  ssm.instance(APP_1, {
    ComputerName: 'app-1',
    PlatformName: 'Red Hat Enterprise Linux',
    PlatformVersion: '9.4',
  }).patches = PATCHES;
  azure.vm('web', 'web-az-1', { tags: { env: 'prod' } }).assessment = {
    status: 'Succeeded',
    rebootPending: true,
    availablePatches: [
      {
        patchId: 'curl-id',
        name: 'curl',
        version: '7.81.0-1ubuntu1.16',
        classifications: ['Security'],
        rebootBehavior: 'NeverReboots',
        activityId: '68f8b292-dfc2-4646-9781-33cc88631968',
        publishedDate: '2024-05-01T00:00:00Z',
        lastModifiedDateTime: '2024-05-02T00:00:00Z',
        assessmentState: 'Available',
      },
    ],
  };
});

afterAll(async () => {
  cloud.close();
  await targets?.close();
  await ssm?.stop();
  await azure?.stop();
});

const scansOf = (server: string) =>
  db.current.sql<
    { status: string; method: string | null; errorKind: string | null; message: string | null }[]
  >`
    select c.status, c.method, c.error_kind as "errorKind", c.error_message as message
    from scans c join servers s on s.id = c.server_id where s.name = ${server} order by c.id`;

describe('cloud accounts as scan targets', () => {
  it('keeps credentials sealed under account:<name>, never in the row or the trail', async () => {
    const rows = await db.current.sql<{ name: string; config: unknown; sealed: string }[]>`
      select name, config, sealed_credentials as sealed from accounts order by name`;
    expect(rows.map((r) => r.name)).toEqual(['aws-prod', 'azure-prod']);
    for (const row of rows) {
      expect(JSON.stringify(row)).not.toContain(CLIENT_SECRET);
      expect(JSON.stringify(row)).not.toContain('not-checked-by-the-fake');
      expect(() => deps.vault.openText(row.sealed, accountSecretContext('someone-else'))).toThrow();
    }
    expect(JSON.parse(deps.vault.openText(rows[1]!.sealed, 'account:azure-prod'))).toEqual({
      clientSecret: CLIENT_SECRET,
    });
    const trail = await db.current.sql<{ data: unknown }[]>`
      select data from audit_events where action = 'account.created' order by seq`;
    expect(trail).toHaveLength(2);
    expect(JSON.stringify(trail)).not.toContain(CLIENT_SECRET);
    expect(trail[1]!.data).toMatchObject({ name: 'azure-prod', credentials: ['clientSecret'] });
  });

  it('scans an SSM instance and an Azure VM registered under their accounts, through startScan', async () => {
    await createServer(
      { name: 'app-1', project: 'cloud', provider: 'aws', account: 'aws-prod', providerId: APP_1 },
      deps,
      admin,
    );
    await createServer(
      {
        name: 'web-az-1',
        project: 'cloud',
        provider: 'azure',
        account: 'azure-prod',
        providerId: `/subscriptions/${SUB}/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/web-az-1`,
      },
      deps,
      admin,
    );
    const started = await startScan(deps, admin, { scope: 'cloud' });
    const outcome = await started.done;
    // Outcomes arrive in completion order; compare them by name.
    const byName = [...(outcome?.outcomes ?? [])].sort((a, b) => a.serverName.localeCompare(b.serverName));
    expect(byName.map((o) => [o.serverName, o.status, o.errorMessage])).toEqual([
      ['app-1', 'succeeded', undefined],
      ['web-az-1', 'succeeded', undefined],
    ]);
    expect(await scansOf('app-1')).toEqual([
      {
        status: 'succeeded',
        method: 'aws-ssm: AWS-RunPatchBaseline Scan + DescribeInstancePatches',
        errorKind: null,
        message: null,
      },
    ]);
    expect((await scansOf('web-az-1'))[0]).toMatchObject({
      status: 'succeeded',
      method: 'azure: assessPatches',
    });
    const findings = await db.current.sql<
      { server: string; package: string; classification: string; cves: string[] }[]
    >`
      select s.name as server, f.package, f.classification, f.cves from findings_open f
      join servers s on s.id = f.server_id order by s.name, f.package`;
    expect(findings).toEqual([
      { server: 'app-1', package: 'openssl', classification: 'security', cves: ['CVE-2024-5535'] },
      { server: 'app-1', package: 'tzdata', classification: 'enhancement', cves: [] },
      { server: 'web-az-1', package: 'curl', classification: 'security', cves: [] },
    ]);
    expect(ssm.instance(APP_1).patchRuns).toEqual([
      { operation: 'Scan', rebootOption: 'NoReboot', installOverrideList: undefined },
    ]);
    ssm.verify();
    azure.verify();
  });

  it('fails a cloud server that lacks an account or an id with not-configured, and the rest go on', async () => {
    await createServer({ name: 'orphan', project: 'cloud', provider: 'aws', providerId: APP_1 }, deps, admin);
    await createServer(
      { name: 'no-id', project: 'cloud', provider: 'azure', account: 'azure-prod' },
      deps,
      admin,
    );
    const outcome = await (await startScan(deps, admin, { scope: 'cloud' })).done;
    const byName = new Map(outcome?.outcomes.map((o) => [o.serverName, o]));
    expect(byName.get('orphan')).toMatchObject({ status: 'failed', errorKind: 'not-configured' });
    expect(byName.get('orphan')?.errorMessage).toMatch(/belongs to no account/);
    expect(byName.get('no-id')).toMatchObject({ status: 'failed', errorKind: 'not-configured' });
    expect(byName.get('app-1')?.status).toBe('succeeded');
    expect(byName.get('web-az-1')?.status).toBe('succeeded');
    await db.current.sql`delete from servers where name in ('orphan', 'no-id')`;
    ssm.verify();
    azure.verify();
  });

  it('reports credentials sealed for another account as auth-failed without calling the cloud', async () => {
    const [aws] = await db.current.sql<{ sealed: string }[]>`
      select sealed_credentials as sealed from accounts where name = 'aws-prod'`;
    await db.current.sql`
      insert into accounts (name, provider, config, sealed_credentials)
      values ('aws-copy', 'aws', ${db.current.sql.json({ region: 'eu-west-1', endpoint: ssm.url })}, ${aws!.sealed})`;
    await createServer(
      {
        name: 'copied',
        project: 'cloud',
        provider: 'aws',
        account: 'aws-copy',
        providerId: 'i-0ccccccccccccccc3',
      },
      deps,
      admin,
    );
    const before = ssm.calls('SendCommand').length;
    const outcome = await (await startScan(deps, admin, { scope: 'copied' })).done;
    expect(outcome?.outcomes[0]).toMatchObject({ status: 'failed', errorKind: 'auth-failed' });
    expect(outcome?.outcomes[0]?.errorMessage).toMatch(/could not be unsealed/);
    expect(ssm.calls('SendCommand')).toHaveLength(before);
    await db.current.sql`delete from servers where name = 'copied'`;
    await db.current.sql`delete from accounts where name = 'aws-copy'`;
  });
});

describe('cloud discovery', () => {
  it('adds new servers from both fakes, flags them on the trail and in the channel, and nothing new on a second run', async () => {
    ssm.instance('i-0bbbbbbbbbbbbbbb2', { ComputerName: 'batch-7', IPAddress: '10.0.3.7' });
    azure.vm('ops', 'jump-az', { computerName: 'jump-az.internal', tags: { role: 'bastion' } });
    const first = await runDiscovery(deps);
    expect(first.map((r) => [r.account, r.created.sort()])).toEqual([
      ['aws-prod', ['batch-7']],
      ['azure-prod', ['jump-az.internal']],
    ]);
    const added = await db.current.sql<
      { name: string; provider: string; account: string; project: string }[]
    >`
      select s.name, s.provider, a.name as account, p.slug as project from servers s
      join accounts a on a.id = s.account_id join projects p on p.id = s.project_id
      where s.name in ('batch-7', 'jump-az.internal') order by s.name`;
    expect(added).toEqual([
      { name: 'batch-7', provider: 'aws', account: 'aws-prod', project: 'cloud' },
      { name: 'jump-az.internal', provider: 'azure', account: 'azure-prod', project: 'cloud' },
    ]);
    const flagged = await db.current.sql<{ subject: string }[]>`
      select subject_id as subject from audit_events where action = 'server.discovered' order by seq`;
    expect(flagged.map((f) => f.subject)).toEqual(['batch-7', 'jump-az.internal']);
    const posts = await db.current.sql<{ header: string }[]>`
      select payload->'reply'->>'header' as header from outbox
      where payload->>'kind' = 'channel-post' and payload->'reply'->>'header' like '%found in%' order by id`;
    expect(posts.map((p) => p.header)).toEqual([
      '1 new server found in aws-prod',
      '1 new server found in azure-prod',
    ]);

    const second = await runDiscovery(deps);
    expect(second.flatMap((r) => r.created)).toEqual([]);
    expect(second.map((r) => r.unchanged)).toEqual([2, 2]);
    const flaggedAgain = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from audit_events where action = 'server.discovered'`;
    expect(flaggedAgain[0]!.n).toBe(2);
    ssm.verify();
    azure.verify();
  });
});
