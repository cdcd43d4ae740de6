import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patchRunJob } from '../../jobs/patch-run.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { acquireMachineLock } from '../../test/machine-lock.js';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../test/sshd.js';
import { decide } from '../approvals/engine.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import { createTargetFactory, type TargetFactory } from '../scanning/target-factory.js';
import { insertTestServer } from '../scanning/testing.js';
import { buildPlan } from './build.js';
import { dispatchDuePlans } from './dispatch.js';
import { getPlan, getPlanItems } from './plans.js';
import type { PatchPolicyInput } from './policy.js';
import { patchRestoreSubject } from './rollback.js';
import {
  type AptRepo,
  aptRepoUnavailableReason,
  createAptRepo,
  DUMMY,
  installedDummy,
  VERSION_FILE,
} from './run-apt.fixture.js';
import { insertSshServer } from './run-testing.js';
import { patchApprovalSubjects } from './subjects.js';
import { setTestPolicy } from './testing.js';

/**
 * The headline test: a real patch of this machine's apt, with no internet. A local repository
 * publishes warden-test-dummy 1.1 in a security suite over the installed 1.0. Warden scans (and
 * classifies it security), builds the plan, gets it approved, dispatches it at its window, and the
 * patch-run job installs the pinned version: over a real sshd (where a post-install check fails,
 * so it rolls back to 1.0), then through the local target (where it succeeds and the rescan
 * confirms it). apt is limited to the test sources (APT_CONFIG) so the machine's other pending
 * updates, which cannot be downloaded here, stay out of the plans.
 */
const db = useTestDatabase('patch-apt');
const reason = aptRepoUnavailableReason() ?? sshdUnavailableReason();
if (reason) console.warn(`real apt patch test skipped: ${reason}`);

describe.skipIf(Boolean(reason))(
  `patching this machine for real${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    let repo: AptRepo | undefined;
    let sshd: SshdHandle | undefined;
    let targets: TargetFactory;
    let deps: TestDeps;
    const savedAptConfig = process.env.APT_CONFIG;

    let releaseApt: () => void = () => {};

    beforeAll(async () => {
      // Other test files read this machine's apt state (commands/scanning/real-scan.test.ts).
      releaseApt = await acquireMachineLock('apt');
      repo = createAptRepo();
      process.env.APT_CONFIG = repo.aptConf;
      sshd = await startSshd({
        users: ['root'],
        rootLogin: true,
        extraConfig: [`SetEnv APT_CONFIG=${repo.aptConf}`],
      });
      targets = createTargetFactory({ ssh: { connectTimeoutMs: 5_000 } });
      deps = createTestDeps(db.current.sql, {
        targets,
        approvalSubjects: createApprovalSubjects([...patchApprovalSubjects, patchRestoreSubject]),
      });
    }, 6 * 60_000);

    afterAll(async () => {
      await targets?.close();
      await sshd?.stop();
      if (savedAptConfig === undefined) delete process.env.APT_CONFIG;
      else process.env.APT_CONFIG = savedAptConfig;
      repo?.cleanup();
      releaseApt();
      expect(installedDummy()).toBeNull();
    });

    /** Scan, plan, approve, dispatch at the window, run: the whole flow, as the product does it. */
    async function patchProject(policy: PatchPolicyInput, server: (projectId: number) => Promise<number>) {
      const project = await createProjectRow(db.current.sql, uniqueHandle('apt'));
      await setTestPolicy(deps, project.id, policy);
      const serverId = await server(project.id);
      const planner = await createActor(db.current.sql, uniqueHandle('planner'), [
        ['patch-manager', project.id],
      ]);
      const approver = await createActor(db.current.sql, uniqueHandle('approver'), [
        ['approver', project.id],
      ]);
      const built = await buildPlan(deps, planner, { project: project.slug, kind: 'now' });
      if (built.outcome !== 'created') throw new Error(`no plan was built: ${JSON.stringify(built)}`);
      const items = await getPlanItems(db.current.sql, built.plan.id);
      await decide(deps, { actor: approver, requestId: built.plan.approvalRequestId!, decision: 'approve' });
      expect((await getPlan(db.current.sql, built.plan.id))!.status).toBe('scheduled');
      const enqueued: Record<string, unknown>[] = [];
      await dispatchDuePlans(deps, async (name, data) => {
        expect(name).toBe('patch-run');
        enqueued.push(data);
      });
      expect(enqueued).toEqual([{ planId: built.plan.id }]);
      await patchRunJob.run(enqueued[0]!, deps);
      const [row] = await db.current.sql<
        { state: string; error: string | null; steps: { state: string; detail: string }[] }[]
      >`
      select state, error, steps from patch_run_servers where plan_id = ${built.plan.id} and server_id = ${serverId}`;
      return { planId: built.plan.id, items, row: row!, serverId };
    }

    const base: PatchPolicyInput = {
      classifications: ['security'],
      rings: [{ name: 'all', match: 'rest', maxConcurrency: 1, errorThreshold: 0 }],
      reboot: { rule: 'if-required' },
    };

    it('installs the pinned security update over sshd, rolls it back when a check fails, then installs it locally and confirms it by rescan', async () => {
      expect(installedDummy()).toBe('1.0');

      // Over ssh, as root: the check expects the old build, so the new one fails it and is rolled back.
      const overSsh = await patchProject(
        {
          ...base,
          checks: [
            {
              name: 'still the 1.0 build',
              argv: ['cat', VERSION_FILE],
              expect: { exitCode: 0, stdoutIncludes: '1.0' },
            },
          ],
        },
        (projectId) =>
          insertSshServer(db.current.sql, deps, {
            name: uniqueHandle('lab-ssh'),
            projectId,
            sshd: sshd!,
            user: 'root',
          }),
      );
      expect(
        overSsh.items.map((i) => [i.package, i.fromVersion, i.toVersion, i.classification, i.arch]),
      ).toEqual([[DUMMY, '1.0', '1.1', 'security', 'all']]);
      const details = overSsh.row.steps.map((s) => `${s.state}: ${s.detail}`);
      expect(details).toContain(`installing: installed ${DUMMY} 1.1`);
      expect(details.some((d) => d.startsWith('checking: check "still the 1.0 build" failed'))).toBe(true);
      expect(overSsh.row.state).toBe('rolled-back');
      expect(overSsh.row.error).toContain('the output does not contain "1.0"');
      expect(details.at(-1)).toContain(`rolled back: reinstalled ${DUMMY} 1.0`);
      expect(installedDummy()).toBe('1.0');
      expect(readFileSync(VERSION_FILE, 'utf8')).toBe('1.0\n');
      expect((await getPlan(db.current.sql, overSsh.planId))!.status).toBe('rolled-back');

      // Through the local target: the check wants the new build, and the rescan confirms 1.1.
      const local = await patchProject(
        {
          ...base,
          checks: [
            {
              name: 'the 1.1 build',
              argv: ['cat', VERSION_FILE],
              expect: { exitCode: 0, stdoutIncludes: '1.1' },
            },
          ],
        },
        (projectId) =>
          insertTestServer(db.current.sql, { name: uniqueHandle('localhost'), projectId, provider: 'local' }),
      );
      expect(local.row).toMatchObject({ state: 'succeeded', error: null });
      expect(local.row.steps.at(-1)?.detail).toBe(
        'confirmed by rescan: 1 package(s) at the planned versions',
      );
      expect(installedDummy()).toBe('1.1');
      expect((await getPlan(db.current.sql, local.planId))!.status).toBe('succeeded');
      const [pending] = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from findings_open where server_id = ${local.serverId} and package = ${DUMMY}`;
      expect(pending!.n).toBe(0);
      const [resolved] = await db.current.sql<{ n: number }[]>`
      select count(*)::int as n from findings_resolved where server_id = ${local.serverId} and package = ${DUMMY}`;
      expect(resolved!.n).toBe(1);
    }, 240_000);
  },
);
