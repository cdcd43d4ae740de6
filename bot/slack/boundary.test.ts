import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SKIP = new Set(['node_modules', 'dist', 'data', '.git', 'test-results']);
/**
 * Only the Slack adapter, and the fake that stands in for Slack, may use Slack's SDK. The ack
 * benchmark is the one other user: its floor is, by definition, a bare Bolt app.
 */
const ALLOWED = [
  path.join('bot', 'slack') + path.sep,
  path.join('test', 'fakes') + path.sep,
  path.join('bench', 'slack-ack') + path.sep,
];

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) sourceFiles(full, out);
    else if (/\.(ts|mts|js|mjs)$/.test(name)) out.push(full);
  }
  return out;
}

describe('the Slack boundary', () => {
  it('keeps @slack/* imports inside bot/slack (and the Slack fake)', () => {
    const offenders = sourceFiles(ROOT)
      .map((file) => path.relative(ROOT, file))
      .filter((file) => !ALLOWED.some((prefix) => file.startsWith(prefix)))
      .filter((file) =>
        /from\s+['"]@slack\/|import\(\s*['"]@slack\/|require\(\s*['"]@slack\//.test(
          readFileSync(path.join(ROOT, file), 'utf8'),
        ),
      );
    expect(offenders).toEqual([]);
  });
});
