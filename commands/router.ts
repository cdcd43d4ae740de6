import type { Interaction, InteractionResult, PlatformUser, Reply } from '../bot/chat/model.js';
import { AppError, isAppError } from '../lib/errors.js';
import { type Queryable, withTx } from '../storage/db.js';
import { finishInteraction, recordInteraction, storableText, userRefOf } from '../storage/interactions.js';
import {
  addIdentity,
  findUserByIdentity,
  getUserByEmail,
  type User,
  usersWithRoles,
} from '../storage/users.js';
import { recordEvent } from './audit/trail.js';
import type { Deps } from './deps.js';
import { matchCommand, parseArgs, tokenize } from './grammar.js';
import { createHelpCommand } from './help/index.js';
import { trackRunning } from './interrupted.js';
import { loadActor } from './rbac/authorize.js';
import type { CommandContext, Registry } from './registry.js';

export interface HandleOptions {
  /**
   * Called once the interaction is committed and before it runs, so an adapter can acknowledge
   * the platform then (Slack's 3 s budget) and let the work finish after the acknowledgement.
   * When it returns a promise, the interaction runs once it resolves (an adapter bounding how
   * much work runs at once).
   */
  onRecorded?: (recorded: { id: number; duplicate: boolean }) => void | Promise<void>;
  /**
   * Where the interaction is recorded; default `deps.sql`. An adapter may keep a small pool of
   * its own so that recording (and so acknowledging) never queues behind slow work.
   */
  recordWith?: Queryable;
}

/**
 * The one entry point for chat: every adapter hands its parsed `Interaction` here. The
 * interaction is committed to `interactions` before anything runs, so a duplicate delivery is
 * answered without running twice and a crash loses nothing. Errors from resolving the user or
 * running the command never escape: the caller always gets a reply to show. Only a failure to
 * record the interaction throws (and then nothing has run).
 */
export async function handleInteraction(
  interaction: Interaction,
  deps: Deps,
  registry: Registry,
  options: HandleOptions = {},
): Promise<InteractionResult> {
  const { platform, externalId } = interaction.user;
  const recorded = await recordInteraction(options.recordWith ?? deps.sql, {
    platform,
    dedupeKey: interaction.dedupeKey,
    userRef: userRefOf(platform, externalId),
    kind: interaction.kind,
    body: interaction,
    receivedAt: interaction.receivedAt,
  });
  if (recorded.duplicate) {
    await options.onRecorded?.(recorded);
    return {
      reply: {
        visibility: 'private',
        tone: 'info',
        text: `Already received (reference #${recorded.id}): this request arrived twice, and Warden handles it only once.`,
      },
    };
  }
  // Heart-beating from here (commands/interrupted.ts), waiting for a slot included, so the sweep
  // tells a running interaction from one whose process died.
  const done = trackRunning(deps.sql, recorded.id);
  try {
    await options.onRecorded?.(recorded);
    return await runRecorded(interaction, deps, registry, recorded.id);
  } finally {
    done();
  }
}

async function runRecorded(
  interaction: Interaction,
  deps: Deps,
  registry: Registry,
  id: number,
): Promise<InteractionResult> {
  let result: InteractionResult;
  let error: string | null = null;
  try {
    const routed = await dispatch(interaction, deps, registry);
    result = routed.result;
    error = routed.refused ?? null;
  } catch (err) {
    if (isAppError(err)) {
      error = err.code;
      result = { reply: errorReply(err.message) };
    } else {
      error = 'internal';
      deps.log.error({ err, interactionId: id, kind: interaction.kind }, 'interaction failed');
      result = {
        reply: errorReply(
          `Something went wrong on our side (reference #${id}); nothing was changed. Try again, or give the reference to an admin.`,
        ),
      };
    }
  }
  try {
    await finishInteraction(deps.sql, id, {
      status: error ? 'failed' : 'done',
      error,
      at: deps.clock.now(),
    });
  } catch (err) {
    // The reply still goes out. The row stays 'received', so the interactions sweep later marks it
    // interrupted and asks the user to check (commands/interrupted.ts): it cannot tell this apart.
    deps.log.error({ err, interactionId: id }, 'could not mark interaction finished');
  }
  return result;
}

function errorReply(text: string): Reply {
  return { visibility: 'private', tone: 'error', text };
}

/** What to answer, and the code to record when the router itself refused (unknown or disabled user). */
interface Routed {
  result: InteractionResult;
  refused?: string;
}

async function dispatch(interaction: Interaction, deps: Deps, registry: Registry): Promise<Routed> {
  const user = await resolveUser(deps, interaction.user);
  if (!user)
    return { result: { reply: await unknownUserReply(deps, interaction.user) }, refused: 'unauthenticated' };
  if (user.disabled) {
    const text = `Your Warden user @${user.handle} is disabled, so Warden will not act for you. Ask an admin to re-enable it.`;
    return { result: { reply: errorReply(text) }, refused: 'forbidden' };
  }
  const actor = await loadActor(deps.sql, user, interaction.user.platform);
  const ctx: CommandContext = { actor, interaction, deps };

  switch (interaction.kind) {
    case 'command': {
      let tokens = tokenize(interaction.text);
      if (tokens[0] && !tokens[0].quoted && tokens[0].text.toLowerCase() === '/warden')
        tokens = tokens.slice(1);
      const help = registry.commands.find((s) => s.path.length === 1 && s.path[0] === 'help');
      if (tokens.length === 0) {
        const spec = help ?? createHelpCommand(registry);
        return {
          result: await spec.run({ positional: [], options: {}, keywords: {}, flags: [], raw: '' }, ctx),
        };
      }
      const match = matchCommand(registry, tokens);
      const args = parseArgs(match.spec, match.rest, interaction.text.trim());
      return { result: await match.spec.run(args, ctx) };
    }
    case 'action': {
      const spec = longestPrefix(registry.actions, interaction.actionId);
      if (!spec) {
        throw new AppError(
          'not_found',
          'That button no longer does anything in this version of Warden. Run the command again for a fresh message.',
        );
      }
      return { result: await spec.run(interaction, ctx) };
    }
    case 'form': {
      const spec = longestPrefix(registry.forms, interaction.formId);
      if (!spec) {
        throw new AppError(
          'not_found',
          'Warden no longer knows that form. Run the command again to get a fresh one.',
        );
      }
      return { result: await spec.run(interaction, ctx) };
    }
  }
}

function longestPrefix<T extends { prefix: string }>(specs: readonly T[], id: string): T | undefined {
  let best: T | undefined;
  for (const s of specs) {
    if (id.startsWith(s.prefix) && (!best || s.prefix.length > best.prefix.length)) best = s;
  }
  return best;
}

/**
 * The Warden user behind a platform identity. When the platform vouches for an e-mail address
 * and a user has that address, the identity is linked to them (on the trail), so the next
 * request resolves directly.
 */
export async function resolveUser(deps: Deps, who: PlatformUser): Promise<User | undefined> {
  const externalId = storableText(who.externalId);
  const linked = await findUserByIdentity(deps.sql, who.platform, externalId);
  if (linked || !who.email) return linked;
  const byEmail = await getUserByEmail(deps.sql, storableText(who.email));
  if (!byEmail || byEmail.disabled) return byEmail;
  await withTx(deps.sql, async (tx) => {
    await addIdentity(tx, {
      userId: byEmail.id,
      platform: who.platform,
      externalId,
      email: who.email,
      verified: true,
    });
    await recordEvent(tx, deps, {
      actor: `user:${byEmail.handle}`,
      action: 'identity.linked',
      data: { platform: who.platform, externalId, by: 'verified-email' },
    });
  });
  return byEmail;
}

async function unknownUserReply(deps: Deps, who: PlatformUser): Promise<Reply> {
  const admins = await usersWithRoles(deps.sql, ['admin'], null);
  const names = [...admins.map((a) => `@${a.handle}`), ...deps.config.admins];
  const unique = [...new Set(names)];
  const askWho = unique.length
    ? `Ask an admin (${unique.slice(0, 10).join(', ')}${unique.length > 10 ? ', …' : ''}) to add you`
    : 'No admin is set up yet; whoever runs Warden can name admins with WARDEN_ADMINS. Ask them to add you';
  const name = who.displayName ? `${who.displayName} (${who.externalId})` : who.externalId;
  return {
    visibility: 'private',
    tone: 'warning',
    header: 'Warden does not know you yet',
    text: `On ${who.platform} you are ${name}, but no Warden user is linked to that identity, so Warden cannot act for you. ${askWho} and link your ${who.platform} identity ${who.externalId}.`,
  };
}
