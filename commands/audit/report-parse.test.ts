import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLocalTarget } from '../../integrations/targets/index.js';
import { AUDIT_ACCOUNTS_SCRIPT } from '../keys/remote.js';
import {
  parseAccountsOutput,
  parseAuthorizedKeyLine,
  parseLoginsOutput,
  parseSshdLine,
} from './report-parse.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (name: string) => readFileSync(path.join(here, 'fixtures', name), 'utf8');
const NOW = new Date('2026-01-05T12:00:00Z');
/** As AUDIT_LOGINS_SCRIPT prints it: a source marker, then each line prefixed `l `. */
const asScriptOutput = (marker: string, text: string) =>
  `${marker}\n${text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => `l ${l}`)
    .join('\n')}\n#end\n`;

describe('sshd log parsing', () => {
  it('reads the line OpenSSH 9.2 wrote on the test harness (sshd -e, CRLF, no timestamp)', () => {
    const lines = fixture('sshd-9.2-harness-stderr.log').split('\n');
    const logins = lines.map((l) => parseSshdLine(l, NOW)).filter((l) => l !== null);
    expect(logins).toEqual([
      {
        at: null,
        host: null,
        pid: null,
        user: 'wkprobe',
        from: '127.0.0.1',
        port: 56610,
        keyType: 'ED25519',
        fingerprint: 'SHA256:ZT4SnyRnCLnHjY0mxsDOOTlxP1hdvi5isfYbpTviCio',
        certificate: null,
        raw: 'Accepted publickey for wkprobe from 127.0.0.1 port 56610 ssh2: ED25519 SHA256:ZT4SnyRnCLnHjY0mxsDOOTlxP1hdvi5isfYbpTviCio',
      },
    ]);
  });

  it('reads journalctl -o short-iso, including certificates and sshd-session, and nothing else', () => {
    const parsed = parseLoginsOutput(asScriptOutput('#journal', fixture('journal-short-iso.log')), {
      since: new Date('2026-01-05T00:00:00Z'),
      now: NOW,
    });
    expect(parsed.sources).toEqual(['journal']);
    expect(
      parsed.logins.map((l) => [l.at?.toISOString(), l.host, l.pid, l.user, l.from, l.port, l.keyType]),
    ).toEqual([
      ['2026-01-05T09:00:01.000Z', 'web-01', 4121, 'deploy', '10.0.0.7', 51514, 'ED25519'],
      ['2026-01-05T09:05:44.000Z', 'web-01', 4301, 'alice', '192.0.2.10', 60022, 'ED25519-CERT'],
      ['2026-01-05T09:08:02.000Z', 'web-01', 4610, 'ops', '2001:db8::7', 50123, 'ECDSA-SK'],
    ]);
    expect(parsed.logins[1]!.fingerprint).toBe('SHA256:d75scDwKO/QcGC7u5/aJrk3DzO6m9SgdE6rJjDplT78');
    expect(parsed.logins[1]!.certificate).toEqual({
      keyId: 'grant-12 ticket OPS-7',
      serial: 3,
      caType: 'ED25519',
      caFingerprint: 'SHA256:Q3dE2Ty6G9rPoyDWUeAeLBQIZolJ3UZHvWOPv9jgx7Q',
    });
  });

  it('never takes user-controlled text elsewhere in a line (an invalid user name, a sudo command) for a login', () => {
    const text = fixture('journal-short-iso.log');
    const injected = text.split('\n').filter((l) => l.includes('invalid user') || l.includes('sudo['));
    expect(injected).toHaveLength(2);
    for (const line of injected) expect(parseSshdLine(line, NOW)).toBeNull();
    expect(parseSshdLine('Accepted publickey for root from 1.2.3.4 port 99999 ssh2: RSA', NOW)).toBeNull();
  });

  it('reads syslog files: the year is inferred so a December line read in January is last year’s; old lines are dropped', () => {
    const parsed = parseLoginsOutput(asScriptOutput('#file\t/var/log/auth.log', fixture('auth-syslog.log')), {
      since: new Date('2025-12-01T00:00:00Z'),
      now: NOW,
    });
    expect(parsed.sources).toEqual(['file /var/log/auth.log']);
    expect(parsed.logins.map((l) => [l.at?.toISOString(), l.user, l.keyType])).toEqual([
      ['2025-12-31T23:59:58.000Z', 'deploy', 'RSA'],
      ['2026-01-05T09:00:01.000Z', 'ops', 'ECDSA'],
      ['2026-01-05T09:00:03.123Z', 'deploy', 'ED25519'],
    ]);
    const recent = parseLoginsOutput(asScriptOutput('#file\t/var/log/auth.log', fixture('auth-syslog.log')), {
      since: new Date('2026-01-01T00:00:00Z'),
      now: NOW,
    });
    expect(recent.logins).toHaveLength(2);
  });

  it('counts a login once when the journal and the auth log both hold it', () => {
    const line = fixture('journal-short-iso.log').split('\n')[2]!;
    const syslogCopy = line.replace('2026-01-05T09:00:01+0000', 'Jan  5 09:00:01');
    const out = `#journal\nl ${line}\n#file\t/var/log/auth.log\nl ${syslogCopy}\n#unreadable\t/var/log/secure\n#end\n`;
    const parsed = parseLoginsOutput(out, { since: new Date('2026-01-01T00:00:00Z'), now: NOW });
    expect(parsed.logins).toHaveLength(1);
    expect(parsed.unreadable).toEqual(['/var/log/secure']);
  });
});

describe('account and authorized_keys parsing', () => {
  it('reads accounts with login shells and every key line, and cannot be fooled by markers inside a file', () => {
    const parsed = parseAccountsOutput(fixture('audit-accounts-output.txt'));
    expect(parsed.complete).toBe(true);
    expect(parsed.accounts.filter((a) => a.loginShell).map((a) => a.user)).toEqual([
      'root',
      'deploy',
      'mallory',
    ]);
    expect(parsed.keys.map((k) => [k.user, k.file, k.line, k.type, k.tag, k.error])).toEqual([
      ['root', '/root/.ssh/authorized_keys', 1, 'ssh-ed25519', null, null],
      ['deploy', '/home/deploy/.ssh/authorized_keys', 3, 'ssh-ed25519', null, null],
      ['deploy', '/home/deploy/.ssh/authorized_keys', 4, 'ssh-ed25519', 'grant-12', null],
      ['deploy', '/home/deploy/.ssh/authorized_keys', 7, 'ssh-rsa', null, 'the key does not decode'],
      ['deploy', '/home/deploy/.ssh/authorized_keys', 8, null, null, 'not a key line'],
    ]);
    expect(parsed.keys[1]).toMatchObject({
      options: 'from="10.0.0.0/8",command="/usr/bin/rsync --server -e.Lsfx . /srv"',
      comment: 'backup job',
      fingerprint: 'SHA256:a1Ojp7NLW0bKJSr1qOQEEiX5LqUGWdv4fHhwWsbD/KI',
    });
    expect(parsed.keys[2]!.comment).toBe('alice@laptop');
    expect(parsed.unreadable).toEqual([{ user: 'mallory', file: '/home/mallory/.ssh/authorized_keys' }]);
    expect(parsed.symlinks).toEqual([{ user: 'deploy', file: '/home/deploy/.ssh/authorized_keys2' }]);
  });

  it('marks output that was cut short as incomplete', () => {
    const text = fixture('audit-accounts-output.txt');
    expect(parseAccountsOutput(text.slice(0, text.indexOf('#unreadable'))).complete).toBe(false);
  });

  it('parses option values with spaces and quotes without splitting the key', () => {
    const line =
      'command="echo \\"a b\\"",no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHTu1JC0wJren8cGovNz0dZrQfCQV6N+M8MLfaabp7cm c d';
    expect(parseAuthorizedKeyLine(line)).toMatchObject({ type: 'ssh-ed25519', comment: 'c d', error: null });
  });

  it('reads the real output of the account script on this machine', async () => {
    const target = createLocalTarget({ name: 'local' });
    const run = await target.exec(['sh', '-c', AUDIT_ACCOUNTS_SCRIPT, 'warden-audit']);
    const parsed = parseAccountsOutput(run.stdout);
    expect(run.exitCode).toBe(0);
    expect(parsed.complete).toBe(true);
    expect(parsed.accounts.find((a) => a.user === 'root')).toMatchObject({ uid: 0, loginShell: true });
    expect(parsed.accounts.some((a) => a.shell.endsWith('nologin') && a.loginShell)).toBe(false);
  });
});
