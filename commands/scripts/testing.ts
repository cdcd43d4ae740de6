import type { Sql } from '../../storage/db.js';
import { getServerByName, insertServer, type Server, type ServerWrite } from '../../storage/inventory.js';
import type { RunServerRow } from '../../storage/script-runs.js';

/** Builders for the script tests (plain data, no test framework). */

export async function addServer(
  sql: Sql,
  input: Partial<ServerWrite> & { name: string; projectId: number | null },
  at = new Date('2026-01-01T00:00:00Z'),
): Promise<Server> {
  await insertServer(
    sql,
    {
      accountId: null,
      provider: 'local',
      providerId: null,
      address: null,
      port: null,
      os: { family: 'debian' },
      tags: {},
      ownerId: null,
      connection: {},
      ...input,
    },
    at,
  );
  return (await getServerByName(sql, input.name))!;
}

/** Poll until `check` holds, or fail after `timeoutMs`: no fixed sleeps. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function byServer(rows: readonly RunServerRow[]): Record<string, RunServerRow> {
  return Object.fromEntries(rows.map((r) => [r.serverName, r]));
}
