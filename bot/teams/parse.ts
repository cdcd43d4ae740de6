import { z } from 'zod';
import type {
  ActionInteraction,
  CommandInteraction,
  FormInteraction,
  Interaction,
  PlatformUser,
} from '../chat/model.js';
import { DATA_ACTION, DATA_FORM, DATA_STATE, DATA_VALUE, FIELD_PREFIX, FORM_VERB } from './render.js';

/**
 * Teams activities, read only as far as Warden needs them, and their translation into the
 * neutral `Interaction`:
 *
 * - a message typed to the bot in a personal chat (`warden …`, or just the words), or with an
 *   @mention of the bot in a channel or group chat (the mention is cut out) → command;
 * - an `adaptiveCard/action` invoke from an Action.Execute button → action, or, from a form's
 *   submit button → form;
 * - a message carrying `value` (a legacy Action.Submit) from a Warden form → form.
 */

/** Teams ids are short and made of these characters; anything else never came from Teams. */
const conversationId = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[A-Za-z0-9:@._;=+\-!~*'(),$]+$/, 'not a Teams conversation id');
const accountId = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9:@._\-+=/]+$/, 'not a Teams account id');

const Account = z.looseObject({
  id: accountId,
  name: z.string().max(256).optional(),
  aadObjectId: z.string().max(64).optional(),
  role: z.string().max(32).optional(),
});

export const TeamsActivity = z.looseObject({
  type: z.string().min(1).max(64),
  id: z.string().min(1).max(256).optional(),
  name: z.string().max(128).optional(),
  channelId: z.string().max(64),
  serviceUrl: z.string().min(1).max(512),
  timestamp: z.string().max(64).optional(),
  from: Account,
  recipient: Account,
  conversation: z.looseObject({
    id: conversationId,
    conversationType: z.string().max(32).optional(),
    tenantId: z.string().max(64).optional(),
    isGroup: z.boolean().optional(),
  }),
  channelData: z
    .looseObject({
      tenant: z.looseObject({ id: z.string().max(64) }).optional(),
      team: z.looseObject({ id: conversationId, name: z.string().max(256).optional() }).optional(),
      channel: z.looseObject({ id: conversationId, name: z.string().max(256).optional() }).optional(),
      eventType: z.string().max(64).optional(),
    })
    .optional(),
  text: z.string().max(20_000).optional(),
  entities: z
    .array(z.looseObject({ type: z.string().max(64) }))
    .max(50)
    .optional(),
  value: z.unknown().optional(),
  replyToId: z.string().max(256).optional(),
  membersAdded: z.array(Account).max(500).optional(),
  membersRemoved: z.array(Account).max(500).optional(),
});
export type TeamsActivity = z.infer<typeof TeamsActivity>;

export type ConversationKind = 'personal' | 'channel' | 'groupChat';

/** personal, channel or groupChat; older payloads only say isGroup. */
export function conversationKind(activity: TeamsActivity): ConversationKind {
  const type = activity.conversation.conversationType;
  if (type === 'personal' || type === 'channel' || type === 'groupChat') return type;
  if (activity.channelData?.channel || activity.channelData?.team) return 'channel';
  return activity.conversation.isGroup ? 'groupChat' : 'personal';
}

/** The tenant an activity says it comes from. */
export function activityTenant(activity: TeamsActivity): string | undefined {
  return (activity.channelData?.tenant?.id ?? activity.conversation.tenantId)?.toLowerCase();
}

/** A channel's conversation id without the thread part (`;messageid=…`). */
export function baseConversation(id: string): string {
  const at = id.indexOf(';messageid=');
  return at === -1 ? id : id.slice(0, at);
}

export interface TeamsReplyHandle {
  conversationId: string;
  activityId: string | undefined;
}

const ENTITIES: Record<string, string> = {
  '&amp;': '&',
  '&lt;': '<',
  '&gt;': '>',
  '&quot;': '"',
  '&#39;': "'",
  '&nbsp;': ' ',
};

/** The words after the bot's @mention (or the whole message in a personal chat), or undefined. */
export function commandText(activity: TeamsActivity): string | undefined {
  let text = activity.text ?? '';
  let mentioned = false;
  for (const entity of activity.entities ?? []) {
    if (entity.type !== 'mention') continue;
    const who = (entity as { mentioned?: { id?: unknown } }).mentioned?.id;
    const shown = (entity as { text?: unknown }).text;
    if (who !== activity.recipient.id || typeof shown !== 'string') continue;
    mentioned = true;
    text = text.split(shown).join(' ');
  }
  // A mention of the bot that Teams did not list as an entity still arrives as <at>Name</at>.
  const botName = (activity.recipient.name ?? 'Warden').toLowerCase();
  text = text.replace(/<at>([^<]{0,256})<\/at>/gi, (m, name: string) => {
    if (name.trim().toLowerCase() !== botName) return m;
    mentioned = true;
    return ' ';
  });
  if (conversationKind(activity) !== 'personal' && !mentioned) return undefined;
  text = text
    .replace(/&(amp|lt|gt|quot|#39|nbsp);/g, (m) => ENTITIES[m] ?? m)
    .replace(/\u00a0/g, ' ')
    .trim();
  return text.replace(/^\/?warden(?=\s|$)/i, '').trim();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const Verb = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9._:-]+$/);
const ButtonData = z.looseObject({ [DATA_ACTION]: Verb, [DATA_VALUE]: z.string().max(2000).default('') });
const FormData = z.looseObject({ [DATA_FORM]: Verb, [DATA_STATE]: z.string().max(3000).optional() });

export type ParseResult =
  | { kind: 'interaction'; interaction: Interaction }
  | { kind: 'ignore'; reason: string }
  | { kind: 'refuse'; text: string };

function base(
  activity: TeamsActivity,
  receivedAt: Date,
): Omit<CommandInteraction, 'kind' | 'text'> | undefined {
  const aad = activity.from.aadObjectId?.toLowerCase();
  if (!aad || !/^[0-9a-f-]{36}$/.test(aad)) return undefined;
  const user: PlatformUser = {
    platform: 'teams',
    externalId: aad,
    ...(activity.from.name ? { displayName: activity.from.name } : {}),
  };
  const handle: TeamsReplyHandle = { conversationId: activity.conversation.id, activityId: activity.id };
  return {
    dedupeKey: `teams:${activity.id ?? `${activity.conversation.id}:${activity.timestamp ?? ''}`}`,
    user,
    channel: baseConversation(activity.conversation.id),
    replyHandle: handle,
    receivedAt,
  };
}

function formFrom(
  data: Record<string, unknown>,
  common: Omit<CommandInteraction, 'kind' | 'text'>,
): ParseResult {
  const form = FormData.safeParse(data);
  if (!form.success)
    return { kind: 'refuse', text: 'That form did not come from Warden. Run the command again.' };
  const values: Record<string, string> = {};
  let count = 0;
  for (const [key, value] of Object.entries(data)) {
    if (!key.startsWith(FIELD_PREFIX)) continue;
    count += 1;
    const id = key.slice(FIELD_PREFIX.length);
    if (
      count > 50 ||
      !/^[A-Za-z0-9_.-]{1,64}$/.test(id) ||
      typeof value !== 'string' ||
      value.length > 4000
    ) {
      return {
        kind: 'refuse',
        text: 'That form has a field Warden did not ask for, or a value that is too long.',
      };
    }
    values[id] = value;
  }
  const state = form.data[DATA_STATE];
  const interaction: FormInteraction = {
    kind: 'form',
    ...common,
    formId: form.data[DATA_FORM],
    values,
    ...(state === undefined ? {} : { state }),
  };
  return { kind: 'interaction', interaction };
}

const NO_ENTRA =
  'Warden acts only for people with a Microsoft Entra account in this organisation, and Teams did not say who you are. Sign in with your work account and try again.';

/** A message activity: a command, a legacy form submit, or nothing for Warden. */
export function parseMessage(activity: TeamsActivity, receivedAt: Date): ParseResult {
  if (isRecord(activity.value) && DATA_FORM in activity.value) {
    const common = base(activity, receivedAt);
    if (!common) return { kind: 'refuse', text: NO_ENTRA };
    return formFrom(activity.value, common);
  }
  const text = commandText(activity);
  if (text === undefined) return { kind: 'ignore', reason: 'a channel message that does not mention Warden' };
  const common = base(activity, receivedAt);
  if (!common) return { kind: 'refuse', text: NO_ENTRA };
  return { kind: 'interaction', interaction: { kind: 'command', ...common, text } };
}

/** An `adaptiveCard/action` invoke from a Warden card. */
export function parseCardAction(activity: TeamsActivity, receivedAt: Date): ParseResult {
  const value = isRecord(activity.value) ? activity.value : {};
  const act = isRecord(value.action) ? value.action : {};
  const data = isRecord(act.data) ? act.data : {};
  if (act.type !== 'Action.Execute' || typeof act.verb !== 'string') {
    return { kind: 'refuse', text: 'That card action is not one Warden understands.' };
  }
  const common = base(activity, receivedAt);
  if (!common) return { kind: 'refuse', text: NO_ENTRA };
  if (act.verb === FORM_VERB) return formFrom(data, common);
  const button = ButtonData.safeParse(data);
  if (!button.success || button.data[DATA_ACTION] !== act.verb) {
    return {
      kind: 'refuse',
      text: 'That button did not come from Warden. Run the command again for a fresh card.',
    };
  }
  const interaction: ActionInteraction = {
    kind: 'action',
    ...common,
    actionId: act.verb,
    value: button.data[DATA_VALUE],
    ...(activity.replyToId ? { messageId: activity.replyToId } : {}),
  };
  return { kind: 'interaction', interaction };
}
