/**
 * A private OpenSSH sshd for tests: its own host key, config, pid file and authorized keys in a
 * temporary directory, on a free loopback port, in the foreground (`-D`) so that it dies with the
 * test. The system sshd is never touched. Needs root (sshd drops privileges per connection, and
 * the test users are real accounts); `sshdUnavailableReason()` says why when it cannot run.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SshdOptions {
  /** Accounts that may log in with `clientKey` (created when missing). Default `['wardentest']`. */
  users?: string[];
  /** `ForceCommand` for every session. */
  forceCommand?: string;
  /** `MaxStartups` (default `1000:30:1000`, so parallel tests are never dropped unless asked). */
  maxStartups?: string;
  /** `MaxSessions` per connection (default 20). */
  maxSessions?: number;
  /** `AllowTcpForwarding` (needed by a bastion in ProxyJump tests). Default false. */
  allowTcpForwarding?: boolean;
  /**
   * Let `root` (when listed in `users`) log in with the key: `PermitRootLogin prohibit-password`.
   * Root's account is used as it is (never created or modified). For tests that install packages
   * over SSH, where sudo may not be installed.
   */
  rootLogin?: boolean;
  /**
   * More sshd_config lines, appended as given (e.g. `TrustedUserCAKeys /path`, `RevokedKeys /path`).
   * `{dir}` in a line becomes the harness's temporary directory.
   */
  extraConfig?: string[];
  /**
   * Start the config with `Include <dir>/sshd_config.d/*.conf`, as Debian, Ubuntu and RHEL 9 do,
   * and create that (empty) directory. Default false.
   */
  includeDir?: boolean;
}

export interface SshdHandle {
  host: '127.0.0.1';
  port: number;
  /** As `ssh-keygen -l` prints it: `SHA256:…`. */
  hostKeyFingerprint: string;
  /** `ssh-ed25519 AAAA…` */
  hostKeyPublic: string;
  /** An ed25519 key pair authorized for every user. */
  clientKey: { privateKey: string; publicKey: string };
  /** The first user. */
  user: string;
  users: string[];
  dir: string;
  /** The sshd process (it stays the same across a SIGHUP, which makes sshd re-exec itself). */
  pid: number;
  /** Everything sshd logged so far (it runs with `-e`). */
  log(): string;
  /** How many log lines match. */
  count(pattern: RegExp): number;
  stop(): Promise<void>;
}

function sshdPath(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v sshd'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  return existsSync('/usr/sbin/sshd') ? '/usr/sbin/sshd' : null;
}

/** Null when the harness can run here, else why not (tests print it when they skip). */
export function sshdUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `the sshd harness runs on Linux only, not ${process.platform}`;
  if (!sshdPath()) {
    return 'OpenSSH sshd is not installed (apt-get install --no-install-recommends openssh-server)';
  }
  if (spawnSync('ssh-keygen', ['-?']).error) return 'ssh-keygen is not installed (openssh-client)';
  if (process.getuid?.() !== 0)
    return 'the sshd harness must run as root: it creates test users and starts sshd';
  return null;
}

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Creates a local account for key logins (password field `*`: no password, not locked). */
export function ensureTestUser(name: string): string {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) throw new Error(`bad test user name ${name}`);
  const shell = existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
  // Test files start in parallel, and useradd fails while another holds the passwd lock.
  for (let attempt = 0; ; attempt++) {
    if (spawnSync('id', [name]).status === 0) break;
    const made = spawnSync('useradd', ['-m', '-s', shell, name], { encoding: 'utf8' });
    if (made.status === 0) break;
    if (attempt >= 20) throw new Error(`useradd ${name} failed: ${made.stderr}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
  // With UsePAM no, sshd refuses a locked account ("!"); "*" means no password but not locked.
  run('usermod', ['-p', '*', name]);
  return run('getent', ['passwd', name]).split(':')[5]!;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function keygen(file: string, comment: string): void {
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

function config(dir: string, port: number, users: string[], options: SshdOptions): string {
  const lines = [
    '# private sshd for Warden tests; not the system sshd',
    // first, like the distributions' sshd_config: the first value of a keyword wins
    ...(options.includeDir ? [`Include ${dir}/sshd_config.d/*.conf`] : []),
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${dir}/host_ed25519`,
    `PidFile ${dir}/sshd.pid`,
    // The harness key lives in the temp dir, so parallel harnesses never overwrite each other;
    // the user's own file is read too, so keys added by the tests can log in.
    `AuthorizedKeysFile ${dir}/authorized_keys/%u .ssh/authorized_keys`,
    `AllowUsers ${users.join(' ')}`,
    `PermitRootLogin ${options.rootLogin ? 'prohibit-password' : 'no'}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'UseDNS no',
    // The key files sit under /tmp, which StrictModes would reject as world-writable.
    'StrictModes no',
    `MaxStartups ${options.maxStartups ?? '1000:30:1000'}`,
    `MaxSessions ${options.maxSessions ?? 20}`,
    'LoginGraceTime 30',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    `AllowTcpForwarding ${options.allowTcpForwarding ? 'yes' : 'no'}`,
    'AllowAgentForwarding no',
    `LogLevel ${process.env.WARDEN_SSHD_LOGLEVEL ?? 'INFO'}`,
  ];
  if (options.forceCommand) lines.push(`ForceCommand ${options.forceCommand}`);
  for (const line of options.extraConfig ?? []) lines.push(line.replaceAll('{dir}', dir));
  return `${lines.join('\n')}\n`;
}

async function launch(
  binary: string,
  configFile: string,
  port: number,
): Promise<{ child: ChildProcess; log: string[] }> {
  const log: string[] = [];
  let size = 0;
  const child = spawn(binary, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let pending = '';
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => fail(new Error('sshd did not start listening within 10 s')), 10_000);
    function fail(error: Error): void {
      clearTimeout(deadline);
      child.kill('SIGTERM');
      reject(new Error(`${error.message}\n${log.join('\n')}`));
    }
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        // Keep at most ~1 MB of log; tests look at the first lines.
        if (size < 1_000_000) log.push(line);
        size += line.length;
        if (line.includes(`Server listening on 127.0.0.1 port ${port}`)) {
          clearTimeout(deadline);
          resolve();
        }
      }
    });
    child.once('exit', (code) => fail(new Error(`sshd exited with ${code} before listening`)));
    child.once('error', (error) => fail(error));
  });
  return { child, log };
}

/** Starts a private sshd; call `stop()` in afterAll. */
export async function startSshd(options: SshdOptions = {}): Promise<SshdHandle> {
  const reason = sshdUnavailableReason();
  if (reason) throw new Error(`cannot start sshd: ${reason}`);
  const binary = sshdPath()!;
  const users = options.users ?? ['wardentest'];
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-sshd-'));
  // sshd reads authorized keys as the user logging in, so the directory must be searchable.
  chmodSync(dir, 0o755);
  keygen(`${dir}/host_ed25519`, 'warden-test-host');
  keygen(`${dir}/client_ed25519`, 'warden-test-client');
  const clientPublic = readFileSync(`${dir}/client_ed25519.pub`, 'utf8').trim();
  mkdirSync(`${dir}/authorized_keys`, { mode: 0o755 });
  if (options.includeDir) mkdirSync(`${dir}/sshd_config.d`, { mode: 0o755 });
  for (const user of users) {
    if (!(user === 'root' && options.rootLogin)) ensureTestUser(user);
    writeFileSync(`${dir}/authorized_keys/${user}`, `${clientPublic}\n`, { mode: 0o644 });
  }
  // Debian's sshd wants its privilege-separation directory, normally made by the service unit.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const fingerprint = run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${dir}/host_ed25519.pub`]).split(
    ' ',
  )[1]!;

  let started: { child: ChildProcess; log: string[] } | undefined;
  let port = 0;
  // Another process may take the free port between the probe and sshd's bind: try a few.
  for (let attempt = 0; !started; attempt++) {
    port = await freePort();
    writeFileSync(`${dir}/sshd_config`, config(dir, port, users, options));
    try {
      started = await launch(binary, `${dir}/sshd_config`, port);
    } catch (error) {
      if (attempt >= 3 || !String(error).includes('Address already in use')) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  const { child, log } = started;
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  return {
    host: '127.0.0.1',
    port,
    hostKeyFingerprint: fingerprint,
    hostKeyPublic: readFileSync(`${dir}/host_ed25519.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' '),
    clientKey: { privateKey: readFileSync(`${dir}/client_ed25519`, 'utf8'), publicKey: clientPublic },
    user: users[0]!,
    users,
    dir,
    pid: child.pid!,
    log: () => log.join('\n'),
    count: (pattern) => log.filter((line) => pattern.test(line)).length,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
