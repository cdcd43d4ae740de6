import type { Server } from '../../storage/inventory.js';
import type { RunServerRow } from '../../storage/patch-runs.js';
import type { PlanItemRow, PlanRow } from '../../storage/patching.js';
import type { Deps } from '../deps.js';
import type { TargetFactory } from '../scanning/target-factory.js';
import type { PatchPolicy } from './policy.js';

/** What every part of a run shares: the deps, the targets, the database lane and the knobs. */

export interface ExecuteRunOptions {
  /** Default: deps.targets, else a factory made (and closed) for this run. */
  targets?: TargetFactory;
  /** Trail actor (default `job:patch-run`). */
  actor?: string;
  /** This process's name on the lease (default host, pid and a random suffix). */
  owner?: string;
  /** How long the lease lasts without a heartbeat, by deps.clock (default 5 min). */
  leaseMs?: number;
  /** How often the lease is renewed, in real time (default 30 s). */
  heartbeatMs?: number;
  /** Least time between two progress replies, by deps.clock (default 60 s). */
  progressIntervalMs?: number;
  /** Take the run even if another process's lease is still live (embedded start-up). */
  force?: boolean;
  /** Waits between reboot probes; tests pass one that moves a fake clock. */
  sleep?: (ms: number) => Promise<void>;
  /** How long a rebooted server gets to come back (default 15 min). */
  rebootTimeoutMs?: number;
  rebootPollMs?: number;
  /** Each pre/post command, check and backup command (default 10 min). */
  commandTimeoutMs?: number;
  /** The install (default: the package manager's own, 1 h). */
  installTimeoutMs?: number;
}

export interface RunContext {
  deps: Deps;
  targets: TargetFactory;
  actor: string;
  /** This process's name on the run's lease; every state write is fenced by it. */
  owner: string;
  plan: PlanRow;
  policy: PatchPolicy;
  sleep: (ms: number) => Promise<void>;
  rebootTimeoutMs: number;
  rebootPollMs: number;
  commandTimeoutMs: number;
  installTimeoutMs: number | undefined;
}

/** One server's share of the plan. */
export interface ServerJob {
  server: Server;
  row: RunServerRow;
  items: PlanItemRow[];
}

export const DEFAULTS = {
  leaseMs: 5 * 60_000,
  heartbeatMs: 30_000,
  progressIntervalMs: 60_000,
  rebootTimeoutMs: 15 * 60_000,
  rebootPollMs: 10_000,
  commandTimeoutMs: 10 * 60_000,
} as const;

export function realSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Clips text for a step log or an error column. */
export function clip(text: string, max = 500): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function errorText(error: unknown): string {
  return clip(error instanceof Error ? error.message : String(error));
}
