import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { createApprovalSubjects } from '../approvals/subjects.js';
import { createActor, uniqueHandle } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { importScriptFolder, importScripts, parseScriptFile } from './import.js';
import { createScript, getScript, listScripts, listVersionsOf, updateScript } from './repository.js';
import { scriptVersionSubject } from './versions.js';

const db = useTestDatabase('scripts-repo');

const RESTART = `#!/usr/bin/env bash
# ---
# name: restart-unit
# description: Restart a systemd unit
# params:
#   - { name: unit, type: string, pattern: '[A-Za-z0-9@._-]+' }
# risk: low
# timeout: 2m
# ---
set -eu
systemctl restart -- "$WARDEN_PARAM_UNIT"
`;

const PS = `<#
---
name: win-diag
description: Collect diagnostics
risk: high
---
#>
Get-ComputerInfo
`;

describe('the script repository', () => {
  let deps: TestDeps;
  let admin: Actor;
  let operator: Actor;
  let dir: string;

  beforeAll(async () => {
    deps = createTestDeps(db.current.sql, {
      approvalSubjects: createApprovalSubjects([scriptVersionSubject]),
    });
    admin = await createActor(db.current.sql, uniqueHandle('author'), [['admin', null]]);
    operator = await createActor(db.current.sql, uniqueHandle('op'), [['operator', null]]);
    dir = mkdtempSync(path.join(tmpdir(), 'warden-scripts-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a definition from a front-matter comment block, for bash and PowerShell', () => {
    const bash = parseScriptFile({ path: 'ops/restart.sh', content: RESTART });
    expect(bash).toMatchObject({
      name: 'restart-unit',
      language: 'bash',
      os: ['linux'],
      risk: 'low',
      timeoutMs: 120_000,
      permission: 'sop:run:restart-unit',
      params: [{ name: 'unit', type: 'string' }],
    });
    expect(bash.body.startsWith('#!/usr/bin/env bash\nset -eu\n')).toBe(true);
    expect(parseScriptFile({ path: 'win/diag.ps1', content: PS })).toMatchObject({
      name: 'win-diag',
      language: 'powershell',
      os: ['windows'],
      risk: 'high',
    });
  });

  it('refuses a file without front matter, or with unknown fields, naming the file', () => {
    expect(() => parseScriptFile({ path: 'a.sh', content: 'echo hi\n' })).toThrow(
      /^a\.sh: has no front matter/,
    );
    expect(() =>
      parseScriptFile({
        path: 'b.sh',
        content: '# ---\n# name: b\n# description: x\n# shell: zsh\n# ---\necho\n',
      }),
    ).toThrow(/^b\.sh: .*shell/);
    expect(() =>
      parseScriptFile({ path: 'c.sh', content: '# ---\n# name: status\n# description: x\n# ---\necho\n' }),
    ).toThrow(/reserved/);
  });

  it('imports a folder all or nothing, and a second import of the same checkout changes nothing', async () => {
    mkdirSync(path.join(dir, 'ops'));
    mkdirSync(path.join(dir, '.git'));
    writeFileSync(path.join(dir, 'ops', 'restart.sh'), RESTART);
    writeFileSync(path.join(dir, '.git', 'hook.sh'), 'not a script of ours');
    writeFileSync(path.join(dir, 'README.md'), '# scripts');
    writeFileSync(path.join(dir, 'broken.sh'), 'echo no header\n');
    await expect(importScriptFolder(deps, admin, dir)).rejects.toThrow(
      /nothing was imported: broken\.sh: has no front matter/,
    );
    expect(await listScripts(deps, admin)).toEqual([]);

    rmSync(path.join(dir, 'broken.sh'));
    const first = await importScriptFolder(deps, admin, dir);
    expect(first).toMatchObject({ created: ['restart-unit'], updated: [], unchanged: [] });
    const again = await importScriptFolder(deps, admin, dir);
    expect(again).toMatchObject({ created: [], updated: [], unchanged: ['restart-unit'] });
    const v1 = await getScript(deps, operator, 'restart-unit');
    expect(v1).toMatchObject({
      version: 1,
      author: admin.user.handle,
      source: 'import:ops/restart.sh',
      approvalState: 'not-needed',
    });
  });

  it('makes every change a new version with its author and a unified diff', async () => {
    const saved = await updateScript(deps, admin, 'restart-unit', {
      body: 'set -eu\nsystemctl reload -- "$WARDEN_PARAM_UNIT"\n',
    });
    expect(saved.changed).toBe(true);
    expect(saved.version.version).toBe(2);
    expect(saved.version.diff).toContain('--- a/restart-unit v1\n+++ b/restart-unit v2\n');
    expect(saved.version.diff).toContain('-systemctl restart -- "$WARDEN_PARAM_UNIT"');
    expect(saved.version.diff).toContain('+systemctl reload -- "$WARDEN_PARAM_UNIT"');
    expect(saved.version.diff).toContain('-#!/usr/bin/env bash');
    const same = await updateScript(deps, admin, 'restart-unit', { description: 'Restart a systemd unit' });
    expect(same.changed).toBe(false);
    const versions = await listVersionsOf(deps, operator, 'restart-unit');
    expect(versions.map((v) => [v.version, v.author])).toEqual([
      [2, admin.user.handle],
      [1, admin.user.handle],
    ]);
    const events = await deps.sql<{ action: string }[]>`
      select action from audit_events where subject_type = 'script' and subject_id = 'restart-unit' order by seq`;
    expect(events.map((e) => e.action)).toEqual(['script.created', 'script.version-created']);
  });

  it('opens a review for a new high-risk version and refuses authors without sop:manage', async () => {
    const saved = await createScript(deps, admin, {
      name: 'wipe-cache',
      description: 'Clear a cache',
      body: 'rm -rf /var/cache/app/*',
      risk: 'high',
    });
    expect(saved.version.approvalState).toBe('pending');
    expect(saved.approvalId).toBeGreaterThan(0);
    await expect(
      createScript(deps, operator, { name: 'mine', description: 'x', body: 'true' }),
    ).rejects.toMatchObject({
      code: 'forbidden',
      message: expect.stringContaining('sop:manage'),
    });
    await expect(importScripts(deps, operator, [{ path: 'x.sh', content: RESTART }])).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(
      createScript(deps, admin, { name: 'wipe-cache', description: 'again', body: 'true' }),
    ).rejects.toMatchObject({ code: 'conflict' });
  });
});
