import { randomBytes } from 'node:crypto';
import type { Platform } from '../bot/chat/model.js';
import type { Deps } from '../commands/deps.js';
import { createFakeClock, type FakeClock } from '../lib/clock.js';
import { createVault } from '../lib/crypto.js';
import { silentLogger } from '../lib/logger.js';
import type { Sql } from '../storage/db.js';

export type TestDeps = Deps & { clock: FakeClock };

/** Deps for a test: a fake clock, a silent logger, a vault with a random key, the console as chat. */
export function createTestDeps(
  sql: Sql,
  overrides: Partial<Omit<Deps, 'clock'>> & { clock?: FakeClock; chatPlatforms?: Platform[] } = {},
): TestDeps {
  const { clock = createFakeClock(), ...rest } = overrides;
  return {
    sql,
    clock,
    log: silentLogger(),
    vault: createVault(randomBytes(32).toString('base64')),
    config: { publicUrl: 'http://localhost:3000', embedded: true, admins: [] },
    chatPlatforms: ['console'],
    ...rest,
  };
}
