import { withTx } from '../../storage/db.js';
import {
  changeServerState,
  type PreviousState,
  type RunServerState,
  type RunStep,
} from '../../storage/patch-runs.js';
import { clip, type RunContext, type ServerJob } from './run-context.js';
import { recordRunEvent } from './run-notify.js';

/**
 * One server's state, written before each step it names starts (a compare-and-set on the state it
 * leaves). A final state is written with its trail event in one transaction.
 */

/** Another process moved this server first: this one must leave it alone. */
export class LostServerError extends Error {
  constructor(server: string) {
    super(`${server} was taken over by another process`);
    this.name = 'LostServerError';
  }
}

export interface ServerOutcome {
  serverId: number;
  serverName: string;
  state: Extract<
    RunServerState,
    'succeeded' | 'failed' | 'rolled-back' | 'skipped-cutoff' | 'skipped-halted'
  >;
  error?: string;
  /** The policy reboots at the end of the window and this server needs it. */
  rebootDeferred?: boolean;
}

export interface StepNote {
  ok: boolean;
  detail: string;
  ms?: number;
  data?: Record<string, unknown>;
}

export interface Mover {
  readonly state: RunServerState;
  readonly previous: PreviousState | null;
  /** Writes the move; `notes` are logged as steps of the state being left (or, with `about`, another). */
  to(
    next: RunServerState,
    notes?: readonly (StepNote & { about?: RunServerState })[],
    extra?: { error?: string | null; previousVersions?: PreviousState; newAttempt?: boolean },
  ): Promise<void>;
  finish(
    next: ServerOutcome['state'],
    note: StepNote,
    extra?: { data?: Record<string, unknown>; thread?: boolean; rebootDeferred?: boolean },
  ): Promise<ServerOutcome>;
  /** Logs a step of the current state with the next move (no write of its own). */
  note(note: StepNote): void;
  /** Steps logged so far in this process plus the stored ones (resume reads the boot id from here). */
  readonly steps: readonly RunStep[];
}

export function createMover(ctx: RunContext, job: ServerJob): Mover {
  let state = job.row.state;
  let previous = job.row.previousVersions;
  const steps: RunStep[] = [...job.row.steps];
  const buffered: (StepNote & { about: RunServerState })[] = [];
  const started = ctx.deps.clock.now().getTime();
  const planId = ctx.plan.id;
  const serverId = job.server.id;

  function stepsOf(notes: readonly (StepNote & { about?: RunServerState })[], at: Date): RunStep[] {
    return notes.map((n) => ({
      at: at.toISOString(),
      state: n.about ?? state,
      ok: n.ok,
      detail: clip(n.detail),
      ...(n.ms !== undefined ? { ms: Math.round(n.ms) } : {}),
      ...(n.data ? { data: n.data } : {}),
    }));
  }

  return {
    get state() {
      return state;
    },
    get previous() {
      return previous;
    },
    get steps() {
      return steps;
    },
    note(note) {
      buffered.push({ ...note, about: state });
    },
    async to(next, notes = [], extra = {}) {
      const at = ctx.deps.clock.now();
      const logged = stepsOf([...buffered.splice(0), ...notes], at);
      const moved = await changeServerState(ctx.deps.sql, {
        owner: ctx.owner,
        planId,
        serverId,
        from: state,
        to: next,
        at,
        steps: logged,
        ...extra,
      });
      if (!moved) throw new LostServerError(job.server.name);
      state = next;
      if (extra.previousVersions) previous = extra.previousVersions;
      steps.push(...logged);
    },
    async finish(next, note, extra = {}) {
      const at = ctx.deps.clock.now();
      const logged = stepsOf([...buffered.splice(0), note], at);
      const error = next === 'succeeded' ? null : clip(note.detail);
      const moved = await withTx(ctx.deps.sql, async (tx) => {
        const ok = await changeServerState(tx, {
          owner: ctx.owner,
          planId,
          serverId,
          from: state,
          to: next,
          at,
          steps: logged,
          error,
        });
        if (!ok) return false;
        const facts = {
          server: job.server.name,
          state: next,
          packages: job.items.length,
          attempt: job.row.attempt + 1,
          durationMs: at.getTime() - started,
          ...(error ? { error } : {}),
          ...extra.data,
        };
        const failedText = `${job.server.name}: ${next === 'rolled-back' ? 'rolled back' : next}. ${note.detail}`;
        await recordRunEvent(tx, ctx.deps, {
          actor: ctx.actor,
          action: `patch.server-${next}`,
          planId,
          projectId: ctx.plan.projectId,
          data: facts,
          ...(extra.thread
            ? { thread: { visibility: 'public', tone: 'warning', text: clip(failedText, 1500) } }
            : {}),
        });
        return true;
      });
      if (!moved) throw new LostServerError(job.server.name);
      state = next;
      steps.push(...logged);
      return {
        serverId,
        serverName: job.server.name,
        state: next,
        ...(error ? { error } : {}),
        ...(extra.rebootDeferred ? { rebootDeferred: true } : {}),
      };
    },
  };
}
