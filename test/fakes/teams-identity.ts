import {
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
} from 'node:crypto';
import { type StrictServer, startStrictServer } from './strict-http.js';

/**
 * The identity side of the Bot Framework, locally: an OpenID metadata document and a JWKS with
 * an RSA key made at start, plus a helper that mints the JWTs the Bot Connector puts on every
 * activity it sends to a bot. Tests choose every claim and the algorithm, so they can also make
 * the tokens a bot must refuse (wrong audience, issuer or tenant, expired, foreign key, alg none).
 */
export const BOT_FRAMEWORK_ISSUER = 'https://api.botframework.com';

export interface MintOptions {
  /** Default https://api.botframework.com. */
  iss?: string;
  aud?: string | string[];
  /** Entra tokens carry the tenant; Bot Connector tokens do not. */
  tid?: string;
  /** The serviceUrl the token was issued for; omitted when null. */
  serviceurl?: string | null;
  /** Seconds from now; negative for a token that has already expired. Default 3600. */
  expiresIn?: number;
  /** Seconds from now before the token is valid. Default -60. */
  notBefore?: number;
  /** 'RS256' (default), 'none' (unsigned) or 'HS256' (signed with the public key as a secret). */
  alg?: 'RS256' | 'none' | 'HS256';
  /** Sign with this key instead of the published one (still naming the published kid). */
  key?: KeyObject;
  kid?: string;
  extra?: Record<string, unknown>;
}

export interface TeamsIdentityFake {
  server: StrictServer;
  /** The JWKS URL to point the bot's key fetch at. */
  jwksUrl: string;
  kid: string;
  appId: string;
  mint(options?: MintOptions): string;
  /** A key that is not in the JWKS, for "wrong signing key" tests. */
  strangerKey(): KeyObject;
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Start the metadata + JWKS server for a bot whose Microsoft App ID is `appId`. */
export async function startTeamsIdentity(appId: string): Promise<TeamsIdentityFake> {
  const server = await startStrictServer({ name: 'teams-identity' });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `test-${randomUUID()}`;
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256', kty: 'RSA' };
  server.route('GET', '/v1/.well-known/openidconfiguration', () => ({
    body: {
      issuer: BOT_FRAMEWORK_ISSUER,
      authorization_endpoint: `${server.url}/authorize`,
      jwks_uri: `${server.url}/v1/.well-known/keys`,
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
    },
  }));
  server.route('GET', '/v1/.well-known/keys', () => ({
    body: { keys: [{ ...jwk, endorsements: ['msteams'] }] },
  }));

  function mint(options: MintOptions = {}): string {
    const now = Math.floor(Date.now() / 1000);
    const alg = options.alg ?? 'RS256';
    const header = { alg, typ: 'JWT', ...(alg === 'none' ? {} : { kid: options.kid ?? kid }) };
    const payload: Record<string, unknown> = {
      iss: options.iss ?? BOT_FRAMEWORK_ISSUER,
      aud: options.aud ?? appId,
      nbf: now + (options.notBefore ?? -60),
      iat: now - 60,
      exp: now + (options.expiresIn ?? 3600),
      ...(options.tid ? { tid: options.tid } : {}),
      ...(options.serviceurl === null || options.serviceurl === undefined
        ? {}
        : { serviceurl: options.serviceurl }),
      ...options.extra,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    if (alg === 'none') return `${input}.`;
    if (alg === 'HS256') {
      // The classic confusion attack: the public key's PEM used as an HMAC secret.
      const secret = publicKey.export({ type: 'spki', format: 'pem' });
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    }
    const signature = sign('sha256', Buffer.from(input), options.key ?? privateKey);
    return `${input}.${b64url(signature)}`;
  }

  return {
    server,
    jwksUrl: `${server.url}/v1/.well-known/keys`,
    kid,
    appId,
    mint,
    strangerKey() {
      const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      });
      return createPrivateKey(pem);
    },
    stop: () => server.stop(),
  };
}
