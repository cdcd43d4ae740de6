import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A lock shared by test files that use the same piece of this machine (its apt and dpkg state,
 * say). vitest runs files in parallel processes, so a test that installs a package and one that
 * counts this machine's pending updates must take turns. A holder that died is detected by pid.
 *
 * @example
 * let release: () => void;
 * beforeAll(async () => { release = await acquireMachineLock('apt'); });
 * afterAll(() => release());
 */
export async function acquireMachineLock(name: string, timeoutMs = 5 * 60_000): Promise<() => void> {
  const file = path.join(tmpdir(), `warden-test-${name}.lock`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (holderIsGone(file)) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(`the ${name} test lock (${file}) was not released within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function holderIsGone(file: string): boolean {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
