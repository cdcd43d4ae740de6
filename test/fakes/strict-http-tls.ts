import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertificatePair {
  key: string;
  cert: string;
}

/**
 * A throw-away certificate for 127.0.0.1 and localhost, valid for one day. Node's crypto can make keys
 * but not X.509 certificates, so the openssl CLI signs it (present on the Debian images we run on).
 * Clients trust it by passing `cert` as their CA (e.g. Azure's `tlsOptions: { ca }`).
 */
export async function createSelfSignedCertificate(): Promise<CertificatePair> {
  const dir = await mkdtemp(path.join(tmpdir(), 'strict-fake-tls-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  try {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]);
    return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `Could not make a self-signed certificate for an https fake (${reason}). Install openssl (apt-get install openssl).`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
