import type {
  ActionInteraction,
  FormInteraction,
  Interaction,
  InteractionResult,
} from '../bot/chat/model.js';
import type { Deps } from './deps.js';
import type { Actor } from './rbac/authorize.js';
import type { Permission } from './rbac/roles.js';

/**
 * How capabilities plug into chat. Each capability folder exports its `CommandSpec`s and
 * `ActionSpec`s; commands/index.ts gathers them into one registry that the router uses.
 */
export interface CommandContext {
  actor: Actor;
  interaction: Interaction;
  deps: Deps;
}

/** A command's arguments after the grammar has parsed them against the spec. */
export interface ParsedArgs {
  /** Bare words after the command path, in order. */
  positional: string[];
  /** `key=value` pairs. */
  options: Record<string, string>;
  /** Values that followed a declared keyword: `for 2h` → { for: '2h' }. */
  keywords: Record<string, string>;
  /** Declared `--flags` that were present. */
  flags: string[];
  /** The text as typed (after `/warden`). */
  raw: string;
}

export interface CommandSpec {
  /** Words that select it: ['access', 'request']. */
  path: readonly string[];
  /** One-line usage shown on errors and in help: `access request <server|project> for <duration> …`. */
  usage: string;
  summary: string;
  /** help lists it only for callers holding this permission somewhere. Unset: everyone. */
  permission?: Permission;
  /** Keywords that take the next token as their value (`for`, `as`, `ticket`, `reason`). */
  keywords?: readonly string[];
  /** Allowed `--flags`. */
  flags?: readonly string[];
  /** Allowed `key=value` option keys; any other key is an error. `'*'` accepts any. */
  options?: readonly string[] | '*';
  /** Most commands take at most this many positional words (default 1). */
  maxPositional?: number;
  run(args: ParsedArgs, ctx: CommandContext): Promise<InteractionResult>;
}

/** Handles clicks whose actionId starts with `prefix` (e.g. `approval.`). */
export interface ActionSpec {
  prefix: string;
  run(action: ActionInteraction, ctx: CommandContext): Promise<InteractionResult>;
}

/** Handles submitted forms whose formId starts with `prefix`. */
export interface FormSpec {
  prefix: string;
  run(form: FormInteraction, ctx: CommandContext): Promise<InteractionResult>;
}

export interface Registry {
  commands: readonly CommandSpec[];
  actions: readonly ActionSpec[];
  forms: readonly FormSpec[];
}
