/**
 * The contract every Target passes (ssh, local, aws-ssm, azure): the same behaviour for exec,
 * keys and scan whatever carries the command. Call it from a test file:
 *
 *   runTargetContract('local', async () => ({ target: createLocalTarget(), keyLogin: 'wardenlocal' }));
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import sshpk from 'sshpk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Target } from './types.js';

export interface ContractSubject {
  target: Target;
  /** A login whose authorized_keys the target may edit; without it the key tests are skipped. */
  keyLogin?: string;
  dispose?(): Promise<void>;
}

export interface ContractOptions {
  /** Why the whole suite cannot run here (it is then skipped, and the reason shown). */
  skip?: string | null;
  /** Why scan cannot run here. */
  skipScan?: string | null;
  /** Why the key tests cannot run here. */
  skipKeys?: string | null;
  /**
   * The most stdout the provider hands back at all (SSM keeps 24,000 characters, Azure Run Command
   * 4,096 bytes): the 10 MB test then expects exactly that much, flagged as truncated.
   */
  outputLimit?: number;
}

/** Arguments a shell would act on; a Target must deliver each one to the program untouched. */
export function hostileArguments(marker: string): string[] {
  return [
    '; rm -rf /',
    `$(touch ${marker}-dollar)`,
    `\`touch ${marker}-backtick\``,
    `|| touch ${marker}-or &&`,
    `'; touch ${marker}-quote; '`,
    `"$(touch ${marker}-dq)"`,
    'line one\nline two\n',
    'ünïcödé ✓ 日本語 🚀',
    '-n',
    '--help',
    '*',
    '~',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text a shell would expand.
    '$HOME ${PATH}',
    'back\\slash\\',
    'tab\there  spaces',
    "'",
    '"',
    '',
    '!!',
    '\u0001\u007f',
  ];
}

function newPublicKey(comment: string): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return `${sshpk.parseKey(pem, 'pem').toString('ssh')} ${comment}`;
}

// Reads a login's authorized_keys through the target itself (the script is constant; the login is $1).
const READ_KEYS = [
  'sh',
  '-c',
  'f="$(getent passwd "$1" | cut -d: -f6)/.ssh/authorized_keys"; if [ -f "$f" ]; then cat "$f"; fi',
  'read-keys',
];

export function runTargetContract(
  name: string,
  makeSubject: () => Promise<ContractSubject>,
  options: ContractOptions = {},
): void {
  const title = options.skip
    ? `${name} target contract (skipped: ${options.skip})`
    : `${name} target contract`;
  describe.skipIf(Boolean(options.skip))(title, () => {
    let subject: ContractSubject;
    let target: Target;
    const marker = `/tmp/warden-pwned-${randomBytes(6).toString('hex')}`;

    beforeAll(async () => {
      subject = await makeSubject();
      target = subject.target;
    });
    afterAll(async () => {
      await target?.close();
      await subject?.dispose?.();
    });

    it('delivers hostile arguments to the program literally and runs none of them', async () => {
      const hostile = hostileArguments(marker);
      const result = await target.exec(['printf', '%s\\0', ...hostile]);
      expect(result.exitCode).toBe(0);
      expect(result.stdout.split('\0').slice(0, -1)).toEqual(hostile);
      for (const arg of hostile) {
        const one = await target.exec(['printf', '%s', arg]);
        expect(one.stdout).toBe(arg);
      }
      const check = await target.exec(['sh', '-c', 'ls -d "$1"-* 2>/dev/null; true', 'check', marker]);
      expect(check.stdout).toBe('');
    });

    it('delivers hostile environment values and standard input literally', async () => {
      for (const value of hostileArguments(marker).filter((arg) => arg !== '')) {
        const env = await target.exec(['printenv', 'WARDEN_CONTRACT'], { env: { WARDEN_CONTRACT: value } });
        expect(env.stdout).toBe(`${value}\n`);
        const stdin = await target.exec(['cat'], { stdin: value });
        expect(stdin.stdout).toBe(value);
      }
      const check = await target.exec(['sh', '-c', 'ls -d "$1"-* 2>/dev/null; true', 'check', marker]);
      expect(check.stdout).toBe('');
    });

    it('refuses a timeout or output cap that is not a positive number', async () => {
      await expect(target.exec(['true'], { timeoutMs: -1 })).rejects.toMatchObject({ code: 'bad_request' });
      await expect(target.exec(['true'], { timeoutMs: Number.NaN })).rejects.toMatchObject({
        code: 'bad_request',
      });
      await expect(target.exec(['true'], { maxOutputBytes: 0 })).rejects.toMatchObject({
        code: 'bad_request',
      });
    });

    it('refuses an environment variable name a shell would interpret', async () => {
      await expect(target.exec(['true'], { env: { 'A;touch /tmp/x': '1' } })).rejects.toThrow(
        /environment variable/,
      );
    });

    it('reports the exit code, stdout and stderr of a failing command', async () => {
      const result = await target.exec(['sh', '-c', 'echo out; echo err >&2; exit 7']);
      expect(result).toMatchObject({
        exitCode: 7,
        signal: null,
        stdout: 'out\n',
        stderr: 'err\n',
        truncated: false,
        timedOut: false,
      });
      expect(result.durationMs).toBeGreaterThanOrEqual(0);
    });

    it('reports a program that does not exist as exit code 127', async () => {
      const result = await target.exec([`${marker}; touch ${marker}-argv0`]);
      expect(result.exitCode).toBe(127);
      const check = await target.exec(['test', '-e', `${marker}-argv0`]);
      expect(check.exitCode).toBe(1);
    });

    it('kills a command that runs past its timeout and reports the timeout', async () => {
      const seconds = `31.${randomBytes(2).readUInt16BE(0)}`;
      const result = await target.exec(['sleep', seconds], { timeoutMs: 300 });
      expect(result.timedOut).toBe(true);
      expect(result.exitCode).toBeNull();
      expect(result.durationMs).toBeLessThan(5_000);
      // The process is gone, not just abandoned.
      const deadline = Date.now() + 5_000;
      let alive = true;
      while (alive && Date.now() < deadline) {
        alive = (await target.exec(['pgrep', '-f', `^sleep ${seconds}$`])).exitCode === 0;
      }
      expect(alive).toBe(false);
    });

    it('keeps the first 8 MB of a 10 MB output and flags it as truncated', async () => {
      const result = await target.exec(['sh', '-c', 'yes 0123456789abcdef | head -c 10485760']);
      expect(result.exitCode).toBe(0);
      expect(result.truncated).toBe(true);
      expect(result.stdout.length).toBe(
        Math.min(8 * 1024 * 1024, options.outputLimit ?? Number.POSITIVE_INFINITY),
      );
      expect(result.stdout.startsWith('0123456789abcdef\n')).toBe(true);
    });

    it('caps stdout and stderr at a configured size', async () => {
      const result = await target.exec(
        ['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" e >&2; echo small'],
        {
          maxOutputBytes: 1000,
        },
      );
      expect(result.stderr.length).toBe(1000);
      expect(result.stdout).toBe('small\n');
      expect(result.truncated).toBe(true);
      const small = await target.exec(['printf', 'x'], { maxOutputBytes: 1000 });
      expect(small.truncated).toBe(false);
    });

    describe.skipIf(Boolean(options.skipKeys))(
      `authorized keys${options.skipKeys ? ` (skipped: ${options.skipKeys})` : ''}`,
      () => {
        it('adds, replaces and removes a tagged key, leaving the other lines alone', async () => {
          const login = subject.keyLogin;
          expect(login, 'the subject must name a keyLogin').toBeTruthy();
          const tag = `contract-${randomBytes(4).toString('hex')}`;
          const before = (await target.exec([...READ_KEYS, login!])).stdout;
          const first = `from="127.0.0.1",expiry-time="209901010000" ${newPublicKey('first key')}`;
          const added = await target.addAuthorizedKey(login!, first, tag);
          expect(added).toMatchObject({ login, tag, removed: 0, added: true });
          const withKey = (await target.exec([...READ_KEYS, login!])).stdout;
          expect(withKey).toContain(`${first} warden:${tag}\n`);
          for (const line of before.split('\n').filter(Boolean)) expect(withKey).toContain(`${line}\n`);

          const second = newPublicKey('second');
          const replaced = await target.addAuthorizedKey(login!, second, tag);
          expect(replaced.removed).toBe(1);
          const afterReplace = (await target.exec([...READ_KEYS, login!])).stdout;
          expect(afterReplace).not.toContain(first);
          expect(afterReplace.split(`warden:${tag}\n`).length - 1).toBe(1);

          const removed = await target.removeAuthorizedKey(login!, tag);
          expect(removed).toMatchObject({ removed: 1, added: false });
          const after = (await target.exec([...READ_KEYS, login!])).stdout;
          expect(after.split('\n').filter(Boolean)).toEqual(before.split('\n').filter(Boolean));
          expect((await target.removeAuthorizedKey(login!, tag)).removed).toBe(0);
        });

        it('keeps authorized_keys private to its owner', async () => {
          const login = subject.keyLogin!;
          const tag = `mode-${randomBytes(4).toString('hex')}`;
          await target.addAuthorizedKey(login, newPublicKey('mode'), tag);
          const stat = await target.exec([
            'sh',
            '-c',
            'stat -c "%a %U" "$(getent passwd "$1" | cut -d: -f6)/.ssh/authorized_keys"',
            'stat',
            login,
          ]);
          await target.removeAuthorizedKey(login, tag);
          expect(stat.stdout.trim()).toBe(`600 ${login}`);
        });

        it('refuses hostile logins, tags and key lines before running anything', async () => {
          const key = newPublicKey('ok');
          await expect(target.addAuthorizedKey('root; rm -rf /', key, 'tag')).rejects.toMatchObject({
            code: 'bad_request',
          });
          await expect(target.addAuthorizedKey('$(id)', key, 'tag')).rejects.toMatchObject({
            code: 'bad_request',
          });
          await expect(
            target.addAuthorizedKey(subject.keyLogin!, key, 'x; touch /tmp/y'),
          ).rejects.toMatchObject({
            code: 'bad_request',
          });
          await expect(
            target.addAuthorizedKey(subject.keyLogin!, `${key}\n${key}`, 'tag'),
          ).rejects.toMatchObject({
            code: 'bad_request',
          });
          await expect(
            target.addAuthorizedKey(subject.keyLogin!, 'ssh-ed25519 notbase64!', 'tag'),
          ).rejects.toMatchObject({
            code: 'bad_request',
          });
          await expect(target.removeAuthorizedKey('../etc', 'tag')).rejects.toMatchObject({
            code: 'bad_request',
          });
        });
      },
    );

    it.skipIf(Boolean(options.skipScan))(
      `scans and reports the operating system${options.skipScan ? ` (skipped: ${options.skipScan})` : ''}`,
      async () => {
        const result = await target.scan({ timeoutMs: 120_000 });
        expect(result.os.id).not.toBe('');
        expect(result.os.family).not.toBe('unknown');
        expect(result.method.length).toBeGreaterThan(0);
        expect(result.scannedAt).toBeInstanceOf(Date);
        expect(Array.isArray(result.findings)).toBe(true);
        expect(Array.isArray(result.problems)).toBe(true);
      },
    );
  });
}
