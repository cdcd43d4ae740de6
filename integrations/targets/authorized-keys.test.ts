import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import sshpk from 'sshpk';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestUser } from '../../test/sshd.js';
import { assertKeyLine, assertKeyTag, assertLogin } from './authorized-keys.js';
import { createLocalTarget } from './local/index.js';

function publicKey(comment = 'test'): string {
  const pem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' });
  return `${sshpk.parseKey(pem, 'pem').toString('ssh')} ${comment}`;
}

describe('authorized_keys input checks', () => {
  it('accepts login names of the portable form only', () => {
    for (const ok of ['deploy', '_svc', 'web-1', 'a'.repeat(32)]) expect(() => assertLogin(ok)).not.toThrow();
    for (const bad of ['', 'Root', '1abc', 'a b', 'a;b', '$(id)', '../x', 'a'.repeat(33), 'é']) {
      expect(() => assertLogin(bad)).toThrow(/login name/);
    }
  });

  it('accepts tags of a safe character set only', () => {
    expect(() => assertKeyTag('grant-42:alice@example.com')).not.toThrow();
    for (const bad of ['', '-x', 'a b', 'a;b', 'a\nb', "a'b", 'x'.repeat(129)]) {
      expect(() => assertKeyTag(bad)).toThrow(/tag/);
    }
  });

  it('accepts one key line with options and refuses anything else', () => {
    const key = publicKey();
    expect(() => assertKeyLine(key)).not.toThrow();
    expect(() =>
      assertKeyLine(`command="echo a b",from="10.0.0.1",expiry-time="202701010000" ${key}`),
    ).not.toThrow();
    expect(() => assertKeyLine(`${key}\n${key}`)).toThrow(/single/);
    expect(() => assertKeyLine('')).toThrow(/single/);
    expect(() => assertKeyLine('command="unclosed ssh-ed25519 AAAA')).toThrow(/unclosed/);
    expect(() => assertKeyLine('ssh-ed25519 AAAAnotakey')).toThrow(/does not parse/);
    expect(() => assertKeyLine('just words here')).toThrow(/no public key/);
  });
});

const isRoot = process.getuid?.() === 0;
const LOGIN = 'wardenkeys';

describe.skipIf(!isRoot)(
  `authorized_keys editing on this machine${isRoot ? '' : ' (skipped: needs root)'}`,
  () => {
    const target = createLocalTarget();
    let home = '';
    beforeAll(() => {
      home = ensureTestUser(LOGIN);
    });
    afterEach(() => {
      rmSync(`${home}/.ssh`, { recursive: true, force: true });
    });

    it('creates ~/.ssh and the file owned by the login with private modes', async () => {
      rmSync(`${home}/.ssh`, { recursive: true, force: true });
      await target.addAuthorizedKey(LOGIN, publicKey(), 'first');
      const owner = execFileSync('stat', ['-c', '%a %U', `${home}/.ssh`, `${home}/.ssh/authorized_keys`], {
        encoding: 'utf8',
      });
      expect(owner).toBe(`700 ${LOGIN}\n600 ${LOGIN}\n`);
    });

    it('keeps the mode and owner of an existing file and every untagged line', async () => {
      mkdirSync(`${home}/.ssh`, { mode: 0o700 });
      const existing = `# keep me\n${publicKey('other')}\nno newline at end`;
      writeFileSync(`${home}/.ssh/authorized_keys`, existing, { mode: 0o640 });
      execFileSync('chown', ['-R', `${LOGIN}:`, `${home}/.ssh`]);
      await target.addAuthorizedKey(LOGIN, publicKey(), 'temp');
      await target.removeAuthorizedKey(LOGIN, 'temp');
      expect(readFileSync(`${home}/.ssh/authorized_keys`, 'utf8')).toBe(`${existing}\n`);
      expect(
        execFileSync('stat', ['-c', '%a %U', `${home}/.ssh/authorized_keys`], { encoding: 'utf8' }),
      ).toBe(`640 ${LOGIN}\n`);
      // No temporary file is left behind.
      expect(execFileSync('ls', ['-A', `${home}/.ssh`], { encoding: 'utf8' })).toBe('authorized_keys\n');
    });

    it('refuses to write through a symbolic link and leaves its target alone', async () => {
      mkdirSync(`${home}/.ssh`, { mode: 0o700 });
      const victim = `/tmp/warden-keys-victim-${process.pid}`;
      writeFileSync(victim, 'untouched\n');
      symlinkSync(victim, `${home}/.ssh/authorized_keys`);
      try {
        await expect(target.addAuthorizedKey(LOGIN, publicKey(), 'x')).rejects.toMatchObject({
          code: 'conflict',
        });
        await expect(target.removeAuthorizedKey(LOGIN, 'x')).rejects.toMatchObject({ code: 'conflict' });
        expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
        expect(lstatSync(`${home}/.ssh/authorized_keys`).isSymbolicLink()).toBe(true);
      } finally {
        rmSync(victim, { force: true });
      }
    });

    it('says so when the login does not exist', async () => {
      await expect(target.addAuthorizedKey('wardennobody', publicKey(), 'x')).rejects.toMatchObject({
        code: 'not_found',
      });
    });

    it('matches the tag exactly, not as a prefix', async () => {
      await target.addAuthorizedKey(LOGIN, publicKey(), 'grant-1');
      await target.addAuthorizedKey(LOGIN, publicKey(), 'grant-10');
      expect((await target.removeAuthorizedKey(LOGIN, 'grant-1')).removed).toBe(1);
      expect(readFileSync(`${home}/.ssh/authorized_keys`, 'utf8')).toMatch(/ warden:grant-10\n$/);
    });
  },
);
