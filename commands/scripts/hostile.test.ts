import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileArguments } from '../../integrations/targets/contract.js';
import { getRunServerOutput } from '../../storage/script-runs.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { type SshdHandle, sshdUnavailableReason, startSshd } from '../../test/sshd.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { createTargetFactory } from '../scanning/target-factory.js';
import { executeRun } from './execute.js';
import { createScript } from './repository.js';
import { startRun } from './run.js';
import { addServer } from './testing.js';

const db = useTestDatabase('scripts-hostile');
const sshdSkip = sshdUnavailableReason();

// Values a shell would act on, one per parameter. The script prints each argument ($1…) to stdout
// and each WARDEN_PARAM_* variable to stderr with printf '%s', NUL-separated, so the test can
// compare byte for byte what arrived.
const marker = `/tmp/warden-sop-pwned-${randomBytes(6).toString('hex')}`;
const values = hostileArguments(marker);
const names = values.map((_, i) => `p${i}`);
const body = [
  `for a in "$@"; do printf '%s\\0' "$a"; done`,
  ...names.map((n) => `printf '%s\\0' "$WARDEN_PARAM_${n.toUpperCase()}" >&2`),
].join('\n');

function markersLeft(): string[] {
  const prefix = path.basename(marker);
  return readdirSync(path.dirname(marker)).filter((f) => f.startsWith(prefix));
}

describe('script parameters with hostile values', () => {
  let deps: TestDeps;
  let operator: Actor;
  let project: { id: number; slug: string };
  let sshd: SshdHandle | undefined;

  beforeAll(async () => {
    deps = createTestDeps(db.current.sql, {
      approvalSubjects: createApprovalSubjects(),
      targets: createTargetFactory(),
    });
    project = await createProjectRow(db.current.sql, uniqueHandle('hostile'));
    const author = await createActor(db.current.sql, uniqueHandle('author'), [['admin', null]]);
    operator = await createActor(db.current.sql, uniqueHandle('op'), [['operator', project.id]]);
    expect(values.length).toBeLessThanOrEqual(20);
    await createScript(deps, author, {
      name: 'echo-params',
      description: 'Print every parameter',
      body,
      params: names.map((name) => ({ name, type: 'string' as const, required: false })),
      timeout: '20s',
    });
  });
  afterAll(async () => {
    await deps.targets?.close();
    await sshd?.stop();
  });

  async function runOn(server: string) {
    const params = Object.fromEntries(names.map((n, i) => [n, values[i]!]));
    const started = await startRun(deps, operator, { script: 'echo-params', target: server, params });
    const outcome = await executeRun(deps, started.run.id);
    expect(outcome?.servers[0]).toMatchObject({ status: 'succeeded', exitCode: 0 });
    return (await getRunServerOutput(deps.sql, started.run.id, server))!;
  }

  it('delivers ;, $(…), backticks, quotes, newlines and unicode literally on the local target, running none', async () => {
    const server = (
      await addServer(db.current.sql, { name: uniqueHandle('local-host'), projectId: project.id })
    ).name;
    const output = await runOn(server);
    expect(output.stdout.split('\0').slice(0, -1)).toEqual(values);
    expect(output.stderr.split('\0').slice(0, -1)).toEqual(values);
    expect(markersLeft()).toEqual([]);
  });

  it.skipIf(Boolean(sshdSkip))(
    `delivers the same values literally over SSH to a real sshd, running none${sshdSkip ? ` (skipped: ${sshdSkip})` : ''}`,
    async () => {
      sshd = await startSshd({ users: ['wardensop'] });
      const server = await addServer(db.current.sql, {
        name: uniqueHandle('ssh-host'),
        projectId: project.id,
        provider: 'ssh',
        address: sshd.host,
        port: sshd.port,
        connection: { user: sshd.user, hostKey: sshd.hostKeyFingerprint },
      });
      const secretName = `ssh-key:${server.name}`;
      await deps.sql`
        insert into secrets (name, purpose, sealed)
        values (${secretName}, 'test service key', ${deps.vault.seal(sshd.clientKey.privateKey, secretName)})`;
      const output = await runOn(server.name);
      expect(output.stdout.split('\0').slice(0, -1)).toEqual(values);
      expect(output.stderr.split('\0').slice(0, -1)).toEqual(values);
      expect(markersLeft()).toEqual([]);
    },
  );
});
