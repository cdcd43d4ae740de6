import type { Finding } from '../../integrations/os/types.js';
import type { ScanResult, Target } from '../../integrations/targets/types.js';
import type { Sql } from '../../storage/db.js';
import { createScanLimiter, type ScanLimits } from './limiter.js';
import type { TargetFactory } from './target-factory.js';

/**
 * Test helpers: a TargetFactory whose targets answer `scan()` from a script, so the history,
 * progress and summary logic runs against the real database without any machine behind it.
 * Every other Target method fails the test if called.
 */
export type ScanScript = (server: string, call: number) => ScanResult | Error | Promise<ScanResult | Error>;

export interface ScriptedTargets extends TargetFactory {
  /** How many scans each server got so far. */
  calls: Map<string, number>;
}

export function scanResult(findings: Finding[], overrides: Partial<ScanResult> = {}): ScanResult {
  return {
    os: {
      family: 'debian',
      id: 'debian',
      versionId: '12',
      prettyName: 'Debian GNU/Linux 12 (bookworm)',
      idLike: [],
    },
    findings,
    rebootRequired: false,
    problems: [],
    method: 'test: apt-get -s dist-upgrade',
    scannedAt: new Date(0),
    ...overrides,
  };
}

export function finding(pkg: string, overrides: Partial<Finding> = {}): Finding {
  return {
    package: pkg,
    installedVersion: '1.0',
    candidateVersion: '1.1',
    classification: 'other',
    severity: 'unknown',
    cves: [],
    arch: 'amd64',
    ...overrides,
  };
}

function refuse(what: string): never {
  throw new Error(`the scripted test target does not ${what}`);
}

export function createScriptedTargets(script: ScanScript, limits: ScanLimits = {}): ScriptedTargets {
  const calls = new Map<string, number>();
  return {
    calls,
    limiter: createScanLimiter(limits),
    async forServer(server) {
      const target: Target = {
        provider: 'local',
        name: server.name,
        exec: async () => refuse('exec'),
        install: async () => refuse('install'),
        addAuthorizedKey: async () => refuse('edit keys'),
        removeAuthorizedKey: async () => refuse('edit keys'),
        async scan() {
          const call = (calls.get(server.name) ?? 0) + 1;
          calls.set(server.name, call);
          const answer = await script(server.name, call);
          if (answer instanceof Error) throw answer;
          return answer;
        },
        close: async () => {},
      };
      return target;
    },
    close: async () => {},
  };
}

/** A server row the way the inventory writes it (the name must follow the inventory's rules). */
export async function insertTestServer(
  sql: Sql,
  input: {
    name: string;
    projectId: number | null;
    provider?: string;
    address?: string | null;
    port?: number | null;
    connection?: Record<string, unknown>;
  },
): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into servers (name, project_id, provider, address, port, connection)
    values (${input.name}, ${input.projectId}, ${input.provider ?? 'ssh'}, ${input.address ?? null},
            ${input.port ?? null}, ${sql.json((input.connection ?? {}) as never)})
    returning id`;
  return row!.id;
}
