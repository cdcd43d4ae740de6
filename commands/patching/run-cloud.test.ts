import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSsmTarget } from '../../integrations/targets/aws-ssm/index.js';
import { createAzureTarget } from '../../integrations/targets/azure/index.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps } from '../../test/deps.js';
import { type AzurePatch, type FakeAzure, startFakeAzure } from '../../test/fakes/azure.js';
import { type FakeSsm, startFakeSsm } from '../../test/fakes/ssm.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import { createTargetFactory, type TargetProviderPlugin } from '../scanning/target-factory.js';
import { insertTestServer } from '../scanning/testing.js';
import { patchRestoreSubject } from './rollback.js';
import { executeRun } from './run.js';
import { insertScheduledPlan } from './run-testing.js';

/**
 * The cloud install paths, end to end through the run: AWS-RunPatchBaseline Install with an
 * InstallOverrideList against the strict SSM fake, Azure installPatches with name=version masks
 * and an OS-disk snapshot first against the strict ARM fake. Each is confirmed by a rescan through
 * the same API, and an Azure install that fails puts the snapshot restore to approval.
 */
const db = useTestDatabase('patch-cloud');
const KEY = 'AKIDRUNTEST';
const INSTANCE = 'i-0aaaaaaaaaaaaaaa1';
const SUB = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';
const TOKEN = 'run-token';
let ssm: FakeSsm;
let azure: FakeAzure;

beforeEach(async () => {
  ssm = await startFakeSsm({ accessKeyId: KEY, region: 'eu-west-1' });
  azure = await startFakeAzure({ subscriptionId: SUB, token: TOKEN, pageSize: 10 });
});
afterEach(async () => {
  ssm.verify();
  azure.verify();
  await ssm.stop();
  await azure.stop();
});

function azurePatch(name: string, version: string): AzurePatch {
  return {
    patchId: `${name}-id`,
    name,
    version,
    classifications: ['Security'],
    rebootBehavior: 'NeverReboots',
    activityId: '68f8b292-dfc2-4646-9781-33cc88631968',
    publishedDate: '2026-01-01T00:00:00Z',
    lastModifiedDateTime: '2026-01-02T00:00:00Z',
    assessmentState: 'Available',
  };
}

describe('runs on AWS SSM and Azure targets', () => {
  it('installs through Patch Manager and installPatches, confirms by rescan, and puts a failed Azure VM’s snapshot restore to approval', async () => {
    const published: string[] = [];
    const instance = ssm.instance(INSTANCE, { PlatformName: 'Ubuntu', PlatformVersion: '22.04' });
    instance.patches = [
      {
        Title: 'openssl.x86_64:0:3.0.2-0ubuntu1.15',
        KBId: 'openssl.x86_64',
        Classification: 'Security',
        Severity: 'Important',
        State: 'Missing',
        InstalledTime: 0,
      },
    ];
    instance.onPatchBaseline((run) => {
      // What Patch Manager does with the override list: installs it, and DescribeInstancePatches shows it installed.
      if (run.operation === 'Install')
        instance.patches = instance.patches.map((p) => ({ ...p, State: 'Installed' }));
      return { stdout: `${run.operation} finished` };
    });
    const good = azure.vm('web', 'az-good');
    good.assessment.availablePatches = [azurePatch('curl', '7.81.0-1ubuntu1.16')];
    const bad = azure.vm('web', 'az-bad');
    // The planned version is gone from the repository: Azure selects nothing for the mask.
    bad.assessment.availablePatches = [azurePatch('curl', '7.81.0-1ubuntu1.17')];

    const credential = {
      getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    const providers = new Map<string, TargetProviderPlugin>([
      [
        'aws',
        {
          target: async ({ server }) =>
            createSsmTarget(
              {
                region: 'eu-west-1',
                endpoint: ssm.url,
                credentials: { accessKeyId: KEY, secretAccessKey: 'secret' },
                instanceId: server.providerId!,
                name: server.name,
                pollIntervalMs: 5,
                maxPollIntervalMs: 20,
              },
              {
                publishInstallList: async (yaml, name) => {
                  published.push(yaml);
                  return `https://patch-lists.example/${name}`;
                },
              },
            ),
        },
      ],
      [
        'azure',
        {
          target: async ({ server }) =>
            createAzureTarget(
              {
                subscriptionId: SUB,
                resourceId: server.providerId!,
                name: server.name,
                endpoint: azure.url,
                tlsCa: azure.ca,
                pollIntervalMs: 5,
                retryDelayMs: 50,
              },
              { credential },
            ),
        },
      ],
    ]);
    const targets = createTargetFactory();
    const deps = createTestDeps(db.current.sql, {
      targets,
      targetProviders: providers,
      approvalSubjects: createApprovalSubjects([patchRestoreSubject]),
    });
    const projectId = (await createProjectRow(db.current.sql, uniqueHandle('cloud'))).id;
    const owner = await createActor(db.current.sql, uniqueHandle('pm'), [['patch-manager', projectId]]);
    const ec2 = await insertTestServer(db.current.sql, {
      name: uniqueHandle('ec2'),
      projectId,
      provider: 'aws',
    });
    const vmGood = await insertTestServer(db.current.sql, {
      name: uniqueHandle('az-good'),
      projectId,
      provider: 'azure',
    });
    const vmBad = await insertTestServer(db.current.sql, {
      name: uniqueHandle('az-bad'),
      projectId,
      provider: 'azure',
    });
    await db.current.sql`update servers set provider_id = ${INSTANCE} where id = ${ec2}`;
    await db.current.sql`update servers set provider_id = ${good.id} where id = ${vmGood}`;
    await db.current.sql`update servers set provider_id = ${bad.id} where id = ${vmBad}`;

    const planId = await insertScheduledPlan(db.current.sql, {
      projectId,
      createdBy: owner.user.id,
      policy: {
        rings: [{ name: 'all', match: 'rest', maxConcurrency: 1, errorThreshold: 1 }],
        backups: { before: 'snapshot' },
      },
      servers: [
        {
          serverId: ec2,
          ring: 0,
          packages: [{ package: 'openssl', arch: 'x86_64', from: '', to: '3.0.2-0ubuntu1.15' }],
        },
        {
          serverId: vmGood,
          ring: 0,
          packages: [{ package: 'curl', arch: '', from: '', to: '7.81.0-1ubuntu1.16' }],
        },
        {
          serverId: vmBad,
          ring: 0,
          packages: [{ package: 'curl', arch: '', from: '', to: '7.81.0-1ubuntu1.16' }],
        },
      ],
      at: deps.clock.now(),
    });
    // SSM has no snapshots: with the policy asking for one before the install, the EC2 server is
    // never patched (fails first), the good VM is, the bad VM fails and its snapshot goes to approval.
    const result = await executeRun(deps, planId);
    await targets.close();
    const states = await db.current.sql<{ id: number; state: string; error: string | null }[]>`
      select server_id as id, state, error from patch_run_servers where plan_id = ${planId}`;
    const byId = new Map(states.map((s) => [s.id, s]));
    expect(byId.get(ec2)).toMatchObject({ state: 'failed' });
    expect(byId.get(ec2)!.error).toContain('aws-ssm servers have none');
    expect(instance.patchRuns.filter((r) => r.operation === 'Install')).toHaveLength(0);
    expect(byId.get(vmGood)!.state).toBe('succeeded');
    expect(good.installs).toEqual([
      {
        maximumDuration: 'PT2H',
        rebootSetting: 'Never',
        linuxParameters: { packageNameMasksToInclude: ['curl=7.81.0-1ubuntu1.16'] },
      },
    ]);
    expect(byId.get(vmBad)!.state).toBe('failed');
    expect(byId.get(vmBad)!.error).toMatch(/Restoring snapshot .*az-bad.* waits for approval/);
    expect([...azure.snapshots.keys()].map((k) => k.split('/').pop())).toEqual([
      expect.stringMatching(/^az-good-warden-p\d+-pre-/),
      expect.stringMatching(/^az-bad-warden-p\d+-pre-/),
    ]);
    const [restore] = await db.current.sql<{ status: string }[]>`
      select status from approval_requests where subject_type = 'patch-restore' and subject_id = ${`${planId}:${vmBad}`}`;
    expect(restore?.status).toBe('pending');
    expect(result.outcome).toBe('partially-failed');
    expect(published).toEqual([]);

    // Without the snapshot rule the SSM server installs exactly the planned version through the override list.
    const second = await insertScheduledPlan(db.current.sql, {
      projectId,
      createdBy: owner.user.id,
      policy: { rings: [{ name: 'all', match: 'rest', maxConcurrency: 1, errorThreshold: 0 }] },
      servers: [
        {
          serverId: ec2,
          ring: 0,
          packages: [{ package: 'openssl', arch: 'x86_64', from: '', to: '3.0.2-0ubuntu1.15' }],
        },
      ],
      at: deps.clock.now(),
    });
    const again = await executeRun(deps, second, { targets: createTargetFactory() });
    expect(again.outcome).toBe('succeeded');
    expect(published).toEqual([
      'patches:\n  - id: openssl.x86_64\n    title: openssl.x86_64:0:3.0.2-0ubuntu1.15\n',
    ]);
    expect(instance.patchRuns.map((r) => r.operation)).toEqual(['Install', 'Scan']);
  });
});
