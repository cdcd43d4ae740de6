import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import sshpk from 'sshpk';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors.js';
import { validatePublicKey } from './register.js';

/** An OpenSSH public key line for a key Node generates. */
function pub(
  type: 'ed25519' | 'rsa' | 'dsa' | 'ec',
  option: number | string = 0,
  comment = 'alice@laptop',
): string {
  const options =
    type === 'rsa'
      ? { modulusLength: option as number }
      : type === 'dsa'
        ? { modulusLength: 1024, divisorLength: 160 }
        : type === 'ec'
          ? { namedCurve: option as string }
          : {};
  // One call shape for every type: the options differ, the KeyObject result does not.
  const generate = generateKeyPairSync as unknown as (t: string, o: object) => { publicKey: KeyObject };
  const { publicKey } = generate(type, options);
  const key = sshpk.parseKey(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'pem');
  key.comment = comment;
  return key.toString('ssh');
}

function privatePem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function refusal(text: string): string {
  try {
    validatePublicKey(text);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('bad_request');
    return (error as AppError).message;
  }
  throw new Error(`accepted: ${text.slice(0, 80)}`);
}

const ed = pub('ed25519');
const edBlob = ed.split(' ')[1]!;

describe('public key validation', () => {
  it.each([
    ['ed25519', ed, 'ssh-ed25519', 256],
    ['ECDSA P-256', pub('ec', 'P-256'), 'ecdsa-sha2-nistp256', 256],
    ['ECDSA P-384', pub('ec', 'P-384'), 'ecdsa-sha2-nistp384', 384],
    ['ECDSA P-521', pub('ec', 'P-521'), 'ecdsa-sha2-nistp521', 521],
    ['RSA 3072', pub('rsa', 3072), 'ssh-rsa', 3072],
  ])('accepts %s', (_name, line, type, bits) => {
    const key = validatePublicKey(line);
    expect(key).toMatchObject({ type, bits, comment: 'alice@laptop', normalized: line });
  });

  it('computes the fingerprint exactly as ssh-keygen -l prints it', () => {
    for (const line of [ed, pub('rsa', 3072), pub('ec', 'P-384')]) {
      const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], {
        input: `${line}\n`,
        encoding: 'utf8',
      });
      expect(validatePublicKey(line).fingerprint).toBe(printed.split(' ')[1]);
    }
  });

  it('accepts a pasted .pub file with its trailing newline and surrounding spaces, and a unicode comment', () => {
    expect(validatePublicKey(`  ${ed}\n`).normalized).toBe(ed);
    const withUnicode = `ssh-ed25519 ${edBlob} josé@portátil`;
    expect(validatePublicKey(withUnicode).comment).toBe('josé@portátil');
    expect(validatePublicKey(`ssh-ed25519 ${edBlob}`).normalized).toBe(`ssh-ed25519 ${edBlob}`);
  });

  it.each([
    ['an RSA key of 2048 bits', pub('rsa', 2048), /at least 3072 bits; this one has 2048/],
    ['a DSA key', pub('dsa'), /DSA keys are refused/],
    [
      'a PKCS#8 private key',
      privatePem(),
      /^that is a PRIVATE key; never paste it anywhere, send the \.pub file/,
    ],
    [
      'an OpenSSH private key',
      sshpk.parsePrivateKey(privatePem(), 'pkcs8').toString('ssh-private'),
      /^that is a PRIVATE key/,
    ],
    [
      'a PuTTY private key',
      'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n',
      /^that is a PRIVATE key/,
    ],
    [
      'an RSA PEM private key header',
      '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----',
      /^that is a PRIVATE key/,
    ],
    [
      'authorized_keys options before the key',
      `from="10.0.0.0/8",no-pty ${ed}`,
      /Remove what comes before "ssh-ed25519"/,
    ],
    ['a command= option', `command="/bin/sh -c 'curl x|sh'" ${ed}`, /Remove what comes before/],
    ['two keys on one line', `${ed} ${pub('ed25519')}`, /more than one key/],
    ['two keys on two lines', `${ed}\n${pub('ed25519')}`, /holds 2 keys; register one key at a time/],
    [
      'a key broken by a newline',
      `ssh-ed25519 ${edBlob.slice(0, 30)}\n${edBlob.slice(30)}`,
      /broken across several lines/,
    ],
    ['a carriage return inside', `ssh-ed25519 ${edBlob}\rx`, /broken across several lines/],
    ['a NUL byte', `ssh-ed25519 ${edBlob} a\u0000b`, /control character \(U\+0000\)/],
    ['an escape sequence', `ssh-ed25519 ${edBlob} \u001b[31mred`, /control character \(U\+001B\)/],
    ['a bidi override', `ssh-ed25519 ${edBlob} \u202Eevil`, /invisible character/],
    [
      'a zero-width space in the key',
      `ssh-ed25519 ${edBlob.slice(0, 10)}\u200B${edBlob.slice(10)}`,
      /invisible character/,
    ],
    ['shell injection instead of a key', '; rm -rf /', /not an SSH public key/],
    ['command substitution', '$(reboot)', /not an SSH public key/],
    [
      'shell metacharacters in the comment',
      `ssh-ed25519 ${edBlob} $(reboot);rm -rf /`,
      /comment after the key may only hold/,
    ],
    ['a fake Warden tag in the comment', `ssh-ed25519 ${edBlob} warden:service-abc`, /not "warden:"/],
    ['a certificate', `ssh-ed25519-cert-v01@openssh.com ${edBlob}`, /certificate, not a public key/],
    ['a FIDO key', `sk-ssh-ed25519@openssh.com ${edBlob}`, /Security-key \(FIDO/],
    ['a truncated key', `ssh-ed25519 ${edBlob.slice(0, 30)}`, /missing or cut short/],
    ['garbage base64', `ssh-ed25519 ${'A'.repeat(68)}`, /does not decode|does not match/],
    ['a mislabelled type', `ssh-rsa ${edBlob}`, /does not match its type "ssh-rsa"/],
    ['an RFC 4716 key', `---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----`, /RFC 4716/],
    ['an empty paste', '   \n', /Paste your public key/],
    ['a huge paste', `ssh-ed25519 ${'A'.repeat(20_000)}`, /at most a few thousand/],
    ['a type alone', 'ssh-ed25519', /missing or cut short/],
    ['an unknown type', `ssh-ed448 ${edBlob}`, /not accepted/],
  ])('refuses %s with a clear message', (_name, text, message) => {
    expect(refusal(text)).toMatch(message);
  });

  it('never echoes a pasted private key back in its message', () => {
    const pem = privatePem();
    const message = refusal(pem);
    expect(message).not.toContain(pem.split('\n')[1]!.slice(0, 20));
  });
});
