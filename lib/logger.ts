import { type Logger, pino } from 'pino';

export type { Logger };

/** Paths pino blanks out wherever they appear in a log object. Secrets are never logged. */
export const REDACT_PATHS = [
  'password',
  'token',
  'secret',
  'authorization',
  'masterKey',
  'privateKey',
  'databaseUrl',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
  '*.masterKey',
  '*.privateKey',
  '*.databaseUrl',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-slack-signature"]',
  'headers.authorization',
];

export function createLogger(
  level: string = 'info',
  destination?: NodeJS.WritableStream | { write(msg: string): void },
): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { app: 'warden' } },
    destination as NodeJS.WritableStream | undefined,
  );
}

/** A logger that writes nothing, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
