import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SKIP = new Set(['node_modules', 'dist', 'data', '.git', 'test-results', 'coverage']);

function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name) || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) sources(full, out);
    else if (/\.(ts|mts|js|mjs)$/.test(entry.name)) out.push(full);
  }
  return out;
}

describe('the Teams SDK boundary', () => {
  it('is imported only by bot/teams/', () => {
    const outside = sources(ROOT)
      .filter((file) => !path.relative(ROOT, file).startsWith(`bot${path.sep}teams${path.sep}`))
      .filter((file) =>
        /from\s+['"]@microsoft\/agents-|require\(\s*['"]@microsoft\/agents-/.test(readFileSync(file, 'utf8')),
      )
      .map((file) => path.relative(ROOT, file));
    expect(outside).toEqual([]);
  });
});
