import type { InteractionResult, ListItem } from '../../bot/chat/model.js';
import { AppError, isAppError } from '../../lib/errors.js';
import { redactPastedText } from '../../storage/keys.js';
import { ageOf } from '../inventory/chat.js';
import { authorize } from '../rbac/authorize.js';
import type { CommandContext, CommandSpec, ParsedArgs } from '../registry.js';
import { handoverKey, keyScopes, resolveKey } from './handover.js';
import { addUserKey, removeUserKey } from './register.js';
import { rotateServiceKey } from './rotate.js';
import { type KeyStatus, keysStatus } from './status.js';

const CHAT_LIST_LIMIT = 25;

/**
 * The text after `keys add`, as typed (newlines kept), so that a pasted private key or two keys on
 * two lines are recognised and explained rather than split into words.
 */
function pastedText(args: ParsedArgs, ctx: CommandContext): string {
  const raw = ctx.interaction.kind === 'command' ? ctx.interaction.text : args.raw;
  const match = /^\s*(?:\/warden\s+)?keys\s+add(?:\s+|$)([\s\S]*)$/i.exec(raw);
  return match ? match[1]! : args.positional.join(' ');
}

export const keysAddCommand: CommandSpec = {
  path: ['keys', 'add'],
  usage: 'keys add <public key: the one line of your .pub file>',
  summary: 'Register your SSH public key (ed25519, ECDSA or RSA 3072+), needed before you request access',
  maxPositional: 200,
  options: '*',
  // A pasted PEM block starts with `-----BEGIN`; accepting these words as "flags" lets the command
  // see the paste and explain it, instead of the grammar refusing an unknown flag.
  flags: ['-----begin', '-----end', '----'],
  async run(args, ctx): Promise<InteractionResult> {
    const text = pastedText(args, ctx);
    try {
      const key = await addUserKey(ctx.deps, ctx.actor, { publicKey: text });
      return {
        reply: {
          visibility: 'private',
          tone: 'success',
          header: 'Key registered',
          fields: [
            { label: 'Fingerprint', value: key.fingerprint },
            { label: 'Type', value: `${key.keyType} (${key.bits} bits)` },
            { label: 'Owner', value: `@${key.ownerHandle}` },
          ],
          context: ['You can now request access; /warden keys status lists your keys.'],
        },
      };
    } catch (error) {
      if (
        isAppError(error) &&
        error.message.startsWith('that is a PRIVATE key') &&
        ctx.interaction.kind === 'command'
      ) {
        await redactPastedText(ctx.deps.sql, {
          platform: ctx.interaction.user.platform,
          dedupeKey: ctx.interaction.dedupeKey,
          text: ctx.interaction.text,
          note: 'keys add [a pasted private key was removed by Warden]',
        });
      }
      throw error;
    }
  },
};

export const keysRemoveCommand: CommandSpec = {
  path: ['keys', 'remove'],
  usage: 'keys remove <fingerprint>',
  summary: 'Retire one of your own registered public keys',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const fingerprint = args.positional[0];
    if (!fingerprint)
      throw new AppError(
        'bad_request',
        'Give the fingerprint of the key to remove.\nUsage: /warden keys remove <fingerprint>',
      );
    const key = await removeUserKey(ctx.deps, ctx.actor, fingerprint);
    return { reply: { visibility: 'private', tone: 'success', text: `Key ${key.fingerprint} is retired.` } };
  },
};

function statusItem(k: KeyStatus, now: Date): ListItem {
  const where = k.installedOn.length
    ? `on ${k.installedOn.map((i) => `${i.login}@${i.server}`).join(', ')}`
    : 'not installed anywhere Warden knows';
  const parts = [
    where,
    `created ${ageOf(k.createdAt, now)} ago`,
    k.lastUsedAt ? `last used ${ageOf(k.lastUsedAt, now)} ago` : 'never seen used',
  ];
  if (k.nextRotationAt) {
    parts.push(
      k.overdue
        ? `⚠ ROTATION OVERDUE by ${ageOf(new Date(now.getTime() - k.overdueByMs), now)}`
        : `next rotation in ${ageOf(now, k.nextRotationAt)}`,
    );
  } else {
    parts.push(k.rotationPolicy);
  }
  return {
    text: `${k.fingerprint} · ${k.kind} · owner @${k.owner}${k.project ? ` · ${k.project}` : ''}`,
    detail: `${k.purpose} · ${parts.join(' · ')}`,
  };
}

export const keysStatusCommand: CommandSpec = {
  path: ['keys', 'status'],
  usage: 'keys status [project]',
  summary:
    'Show the keys you may see: owner, fingerprint, where installed, last used, next rotation (overdue marked)',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const project = args.positional[0];
    const keys = await keysStatus(ctx.deps, ctx.actor, project === undefined ? {} : { project });
    const now = ctx.deps.clock.now();
    const overdue = keys.filter((k) => k.overdue).length;
    const shown = [...keys].sort((a, b) => Number(b.overdue) - Number(a.overdue)).slice(0, CHAT_LIST_LIMIT);
    const where = project ? ` on ${project}` : '';
    return {
      reply: {
        visibility: 'private',
        header: `Keys${where}`,
        tone: overdue > 0 ? 'warning' : 'info',
        ...(keys.length
          ? { items: shown.map((k) => statusItem(k, now)) }
          : { text: `No keys${where} you may see. Register yours with /warden keys add <public key>.` }),
        context: [
          `${keys.length} key${keys.length === 1 ? '' : 's'}${overdue ? `, ${overdue} overdue for rotation` : ''}.`,
          ...(keys.length > CHAT_LIST_LIMIT ? [`Showing ${CHAT_LIST_LIMIT}; the API lists all.`] : []),
        ],
        ...(keys.length > CHAT_LIST_LIMIT ? { moreUrl: `${ctx.deps.config.publicUrl}/api/v1/keys` } : {}),
      },
    };
  },
};

export const keysHandoverCommand: CommandSpec = {
  path: ['keys', 'handover'],
  usage: 'keys handover <fingerprint> to <user> [reason "…"]',
  summary: 'Give a key a new owner (audited; needs keys:manage)',
  permission: 'keys:manage',
  keywords: ['to', 'reason'],
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const fingerprint = args.positional[0];
    const to = args.keywords.to;
    if (!fingerprint || !to) {
      throw new AppError(
        'bad_request',
        'Name the key and the new owner.\nUsage: /warden keys handover <fingerprint> to <user> [reason "…"]',
      );
    }
    const key = await handoverKey(ctx.deps, ctx.actor, { fingerprint, to, reason: args.keywords.reason });
    return {
      reply: {
        visibility: 'public',
        tone: 'success',
        text: `Key ${key.fingerprint} (${key.kind}) now belongs to @${key.ownerHandle}. The handover is on the trail.`,
      },
    };
  },
};

export const keysRotateCommand: CommandSpec = {
  path: ['keys', 'rotate'],
  usage: 'keys rotate <fingerprint>',
  summary:
    'Rotate one of Warden’s service keys now (add new, prove it, switch, remove old, prove it refused)',
  permission: 'keys:rotate',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const typed = args.positional[0];
    if (!typed)
      throw new AppError(
        'bad_request',
        'Give the fingerprint of the service key.\nUsage: /warden keys rotate <fingerprint>',
      );
    const key = await resolveKey(ctx.deps, typed);
    const scopes = await keyScopes(ctx.deps, key);
    if (scopes.length === 0) authorize(ctx.actor, 'keys:rotate', null);
    for (const project of scopes) authorize(ctx.actor, 'keys:rotate', project);
    if (key.kind !== 'service') {
      throw new AppError(
        'bad_request',
        `Key ${key.fingerprint} is a ${key.kind} key; Warden rotates only its own service keys.`,
      );
    }
    const outcome = await rotateServiceKey(ctx.deps, key.id, {
      actor: `user:${ctx.actor.user.handle}`,
      trigger: 'manual',
    });
    const ok = outcome.status === 'rotated';
    return {
      reply: {
        visibility: 'private',
        tone: ok ? 'success' : outcome.status === 'skipped' ? 'info' : 'error',
        header: ok ? 'Key rotated' : `Rotation ${outcome.status}`,
        text: ok
          ? `${outcome.fingerprint} → ${outcome.newFingerprint}. The new key logs in and the old one is refused.`
          : (outcome.reason ?? 'See the servers below.'),
        items: outcome.servers.map((s) => ({
          text: `${s.login}@${s.server}`,
          detail: s.ok ? 'done' : `${s.step}: ${s.error}`,
        })),
      },
    };
  },
};

export const keysCommands: CommandSpec[] = [
  keysAddCommand,
  keysRemoveCommand,
  keysStatusCommand,
  keysHandoverCommand,
  keysRotateCommand,
];
