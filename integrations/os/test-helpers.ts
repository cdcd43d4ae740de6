import { readFileSync } from 'node:fs';
import type { CommandOutput } from './types.js';

/** Reads a fixture from integrations/os/fixtures (tests only). */
export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
}

export function ran(stdout: string, exitCode: number | null = 0, stderr = ''): CommandOutput {
  return { stdout, stderr, exitCode };
}

/** Deterministic pseudo-random bytes (xorshift), so a failing garbage test can be replayed. */
export function randomBytes(length: number, seed = 0x9e3779b9): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** About `megabytes` MB of plausible-looking text lines that are not any package manager's format. */
export function bigText(megabytes: number): string {
  const line = 'lorem ipsum Inst dolor [sit] (amet consectetur) < adipiscing/elit 1.0-1 x86_64 @@WARDEN\n';
  return line.repeat(Math.ceil((megabytes * 1024 * 1024) / line.length));
}

/** Cuts text in the middle of the line that contains `marker`. */
export function cutInside(text: string, marker: string): string {
  const at = text.indexOf(marker);
  if (at === -1) throw new Error(`marker ${marker} not in text`);
  return text.slice(0, at + Math.floor(marker.length / 2));
}
