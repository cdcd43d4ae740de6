import type { Finding } from '../../integrations/os/types.js';
import type { ExecResult, InstallItem, InstallResult, Target } from '../../integrations/targets/types.js';
import { createScanLimiter } from '../scanning/limiter.js';
import type { TargetFactory } from '../scanning/target-factory.js';

/**
 * Simulated Debian hosts for run tests: the package database lives in memory, and installs,
 * rollbacks (apt-get --allow-downgrades), dpkg-query, scans and reboots behave as on a real host.
 * Every call is counted, so a test can prove nothing was installed twice.
 */

export type InstallBehaviour = 'ok' | 'fail' | 'hang' | 'apply-then-hang';

export interface SimHostOptions {
  name: string;
  /** Installed now: package → version. */
  installed: Record<string, string>;
  /** The repository's newest version of each package (what a scan reports as the candidate). */
  available?: Record<string, string>;
  /** What each install does (call counts from 1). Default 'ok'. */
  install?: (call: number, items: readonly InstallItem[]) => InstallBehaviour | Promise<InstallBehaviour>;
  /** Answers any other command (checks, pre/post commands); default exit 0 with no output. */
  exec?: (argv: readonly string[]) => Partial<ExecResult> | undefined;
  /** Give the target a snapshot() (a cloud disk). */
  snapshots?: boolean;
  provider?: Target['provider'];
}

export interface SimHost {
  readonly name: string;
  readonly installed: Map<string, string>;
  readonly available: Map<string, string>;
  /** install() calls, and those that changed a version. */
  installCalls: number;
  appliedInstalls: number;
  readonly execs: string[][];
  readonly snapshots: string[];
  bootId: string;
  target(): Target;
  /** Ends every hanging install with an error (test clean-up). */
  release(): void;
}

function result(partial: Partial<ExecResult> = {}): ExecResult {
  return {
    exitCode: 0,
    signal: null,
    stdout: '',
    stderr: '',
    truncated: false,
    timedOut: false,
    durationMs: 1,
    ...partial,
  };
}

const OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n';

export interface FleetStats {
  inFlight: number;
  maxInFlight: number;
  /** Host names in the order their installs started. */
  order: string[];
}

export function createSimHost(options: SimHostOptions, fleet?: FleetStats): SimHost {
  const installed = new Map(Object.entries(options.installed));
  const available = new Map(Object.entries(options.available ?? {}));
  const hanging: ((error: Error) => void)[] = [];
  let boots = 1;
  const host: SimHost = {
    name: options.name,
    installed,
    available,
    installCalls: 0,
    appliedInstalls: 0,
    execs: [],
    snapshots: [],
    bootId: `00000000-0000-4000-8000-${String(boots).padStart(12, '0')}`,
    release() {
      for (const reject of hanging.splice(0)) reject(new Error('released by the test'));
    },
    target() {
      return target;
    },
  };

  function apply(specs: readonly string[]): void {
    for (const spec of specs) {
      const [name, version] = spec.split('=') as [string, string];
      installed.set(name.replace(/:[a-z0-9-]+$/, ''), version);
    }
  }

  async function exec(argv: readonly string[]): Promise<ExecResult> {
    host.execs.push([...argv]);
    const [program] = argv;
    if (program === 'cat' && argv[1] === '/etc/os-release') return result({ stdout: OS_RELEASE });
    if (program === 'cat' && argv[1] === '/proc/sys/kernel/random/boot_id')
      return result({ stdout: `${host.bootId}\n` });
    if (program === 'systemctl' && argv[1] === 'reboot') {
      boots++;
      host.bootId = `00000000-0000-4000-8000-${String(boots).padStart(12, '0')}`;
      return result({ exitCode: null, signal: 'HUP' });
    }
    if (program === 'test' && argv[2] === '/var/run/reboot-required') return result({ exitCode: 1 });
    if (program === 'dpkg-query') {
      const names = argv.slice(3);
      const lines = names
        .filter((n) => installed.has(n))
        .map((n) => `${n}\tamd64\t${installed.get(n)}\tii \n`);
      return result({ stdout: lines.join(''), exitCode: lines.length === names.length ? 0 : 1 });
    }
    if (program === 'apt-get' && argv.includes('--allow-downgrades')) {
      apply(argv.slice(argv.indexOf('install') + 1));
      return result({ stdout: 'rolled back' });
    }
    return result(options.exec?.(argv));
  }

  async function install(items: readonly InstallItem[]): Promise<InstallResult> {
    host.installCalls++;
    if (fleet) {
      fleet.maxInFlight = Math.max(fleet.maxInFlight, ++fleet.inFlight);
      fleet.order.push(options.name);
    }
    try {
      // Let other servers' work interleave, as a real install would.
      await new Promise((resolve) => setImmediate(resolve));
      const behaviour = (await options.install?.(host.installCalls, items)) ?? 'ok';
      if (behaviour === 'apply-then-hang' || behaviour === 'ok') {
        for (const item of items) installed.set(item.package, item.version);
        host.appliedInstalls++;
      }
      if (behaviour === 'hang' || behaviour === 'apply-then-hang') {
        await new Promise((_, reject) => hanging.push(reject));
      }
      const ok = behaviour === 'ok';
      return {
        items: items.map((i) => ({
          package: i.package,
          version: i.version,
          status: ok ? 'installed' : 'failed',
          ...(ok ? {} : { detail: 'E: simulated failure' }),
        })),
        exec: result(ok ? {} : { exitCode: 100, stderr: 'E: simulated failure' }),
        ...(ok ? {} : { failure: 'command-failed' as const }),
      };
    } finally {
      if (fleet) fleet.inFlight--;
    }
  }

  const target: Target = {
    provider: options.provider ?? 'ssh',
    name: options.name,
    exec,
    install,
    async scan() {
      const findings: Finding[] = [];
      for (const [pkg, version] of installed) {
        const candidate = available.get(pkg);
        if (candidate && candidate !== version) {
          findings.push({
            package: pkg,
            installedVersion: version,
            candidateVersion: candidate,
            classification: 'security',
            severity: 'unknown',
            cves: [],
            arch: 'amd64',
          });
        }
      }
      return {
        os: { family: 'debian', id: 'debian', versionId: '12', prettyName: 'Debian 12', idLike: [] },
        findings,
        rebootRequired: false,
        problems: [],
        method: 'sim: apt-get -s dist-upgrade',
        scannedAt: new Date(0),
      };
    },
    addAuthorizedKey: async () => {
      throw new Error('not simulated');
    },
    removeAuthorizedKey: async () => {
      throw new Error('not simulated');
    },
    ...(options.snapshots
      ? {
          async snapshot({ label }: { label: string }) {
            const id = `snap-${options.name}-${label}`;
            host.snapshots.push(id);
            return { id, createdAt: new Date(0) };
          },
        }
      : {}),
    close: async () => {},
  };
  return host;
}

export interface SimFleet extends TargetFactory {
  readonly hosts: Map<string, SimHost>;
  readonly stats: FleetStats;
  add(options: SimHostOptions): SimHost;
  /** Another factory over the same hosts: what a second Warden process would see. */
  another(): TargetFactory;
}

/** A TargetFactory whose servers are simulated hosts, found by server name. */
export function createSimFleet(): SimFleet {
  const hosts = new Map<string, SimHost>();
  const stats: FleetStats = { inFlight: 0, maxInFlight: 0, order: [] };
  return {
    hosts,
    stats,
    limiter: createScanLimiter(),
    add(options) {
      const host = createSimHost(options, stats);
      hosts.set(options.name, host);
      return host;
    },
    async forServer(server) {
      const host = hosts.get(server.name);
      if (!host) throw new Error(`no simulated host named ${server.name}`);
      return host.target();
    },
    another() {
      return {
        limiter: createScanLimiter(),
        forServer: async (server) => {
          const host = hosts.get(server.name);
          if (!host) throw new Error(`no simulated host named ${server.name}`);
          return host.target();
        },
        close: async () => {},
      };
    },
    async close() {
      for (const host of hosts.values()) host.release();
    },
  };
}
