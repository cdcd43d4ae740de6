import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ActionInteraction, CommandInteraction, FormInteraction, PlatformUser } from '../chat/model.js';

/**
 * Slack's wire formats, read only as far as Warden needs them, and their translation into the
 * neutral `Interaction`. Slash commands arrive form-encoded, interactivity as a form field
 * `payload` holding JSON, and the Events API as JSON.
 */

const id = z.string().min(1).max(255);

export const SlashCommand = z.looseObject({
  command: z.string().min(1).max(100),
  text: z.string().max(10_000).default(''),
  user_id: id,
  user_name: z.string().max(255).optional(),
  channel_id: id,
  team_id: id.optional(),
  response_url: z.url().optional(),
  trigger_id: id.optional(),
});
export type SlashCommand = z.infer<typeof SlashCommand>;

const SlackUserRef = z.looseObject({
  id,
  name: z.string().max(255).optional(),
  username: z.string().max(255).optional(),
  team_id: z.string().optional(),
});

export const BlockAction = z.looseObject({
  type: z.literal('block_actions'),
  user: SlackUserRef,
  trigger_id: id.optional(),
  response_url: z.url().optional(),
  channel: z.looseObject({ id }).optional(),
  container: z
    .looseObject({
      type: z.string().optional(),
      message_ts: z.string().optional(),
      channel_id: z.string().optional(),
      is_ephemeral: z.boolean().optional(),
    })
    .optional(),
  message: z.looseObject({ ts: z.string() }).optional(),
  view: z.looseObject({ id: z.string(), type: z.string().optional() }).optional(),
  actions: z
    .array(
      z.looseObject({
        action_id: z.string().min(1).max(255),
        block_id: z.string().optional(),
        value: z.string().max(2000).optional(),
        selected_option: z.looseObject({ value: z.string().max(2000) }).nullish(),
        action_ts: z.string().optional(),
      }),
    )
    .min(1),
});
export type BlockAction = z.infer<typeof BlockAction>;

const InputState = z.looseObject({
  type: z.string(),
  value: z.string().nullish(),
  selected_option: z.looseObject({ value: z.string() }).nullish(),
});

export const ViewSubmission = z.looseObject({
  type: z.literal('view_submission'),
  user: SlackUserRef,
  trigger_id: id.optional(),
  view: z.looseObject({
    id,
    callback_id: z.string().max(255),
    private_metadata: z.string().max(3000).optional(),
    hash: z.string().optional(),
    state: z.looseObject({
      values: z.record(z.string(), z.record(z.string(), InputState)),
    }),
  }),
});
export type ViewSubmission = z.infer<typeof ViewSubmission>;

export const BlockSuggestion = z.looseObject({
  type: z.literal('block_suggestion'),
  user: SlackUserRef,
  action_id: z.string().max(255),
  block_id: z.string().max(255).optional(),
  value: z.string().max(500).default(''),
});
export type BlockSuggestion = z.infer<typeof BlockSuggestion>;

export const EventCallback = z.looseObject({
  type: z.literal('event_callback'),
  event_id: id,
  team_id: z.string().optional(),
  event: z.looseObject({ type: z.string(), user: z.string().optional(), tab: z.string().optional() }),
});
export type EventCallback = z.infer<typeof EventCallback>;

/** What a request body is, before Bolt sees it. */
export type ParsedBody =
  | { kind: 'command'; body: Record<string, string> }
  | { kind: 'interactive'; body: Record<string, unknown> & { type: string } }
  | { kind: 'url_verification'; challenge: string }
  /** Slack checking the slash command URL's certificate: answer 200, nothing else. */
  | { kind: 'ssl_check' }
  | { kind: 'event'; body: Record<string, unknown> & { type: string } };

export type ParseFailure = { error: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Read a verified raw body by its content type; a body Warden cannot read is refused with a reason. */
export function parseSlackBody(rawBody: string, contentType: string | undefined): ParsedBody | ParseFailure {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(rawBody);
    const payload = form.get('payload');
    if (payload !== null) {
      let body: unknown;
      try {
        body = JSON.parse(payload);
      } catch {
        return { error: 'the payload field is not JSON' };
      }
      if (!isRecord(body) || typeof body.type !== 'string') return { error: 'the payload has no type' };
      return { kind: 'interactive', body: body as Record<string, unknown> & { type: string } };
    }
    if (form.get('ssl_check') === '1') return { kind: 'ssl_check' };
    if (!form.has('command')) return { error: 'a form body without payload or command' };
    return { kind: 'command', body: Object.fromEntries(form.entries()) };
  }
  if (type === 'application/json') {
    let body: unknown;
    try {
      body = JSON.parse(rawBody);
    } catch {
      return { error: 'the body is not JSON' };
    }
    if (!isRecord(body) || typeof body.type !== 'string') return { error: 'the event has no type' };
    if (body.type === 'url_verification') {
      return typeof body.challenge === 'string' && body.challenge.length <= 500
        ? { kind: 'url_verification', challenge: body.challenge }
        : { error: 'url_verification without a challenge' };
    }
    return { kind: 'event', body: body as Record<string, unknown> & { type: string } };
  }
  return { error: `unsupported content type ${type || '(none)'}` };
}

/**
 * A stable key for a delivery: Slack's trigger_id and a hash of the body, so a redelivery of the
 * same request (a Socket Mode retry) is recognised and two different requests never collide.
 */
export function dedupeKeyFor(prefix: string, triggerId: string | undefined, body: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(body)).digest('base64url');
  return `${prefix}:${triggerId ?? '-'}:${digest}`;
}

/** Where Warden answers a slash command or a click: carried on the interaction, opaque to commands/. */
export interface SlackReplyHandle {
  responseUrl?: string;
  triggerId?: string;
  channel: string;
  /** The clicked message, for chat.update. */
  messageTs?: string;
  ephemeral?: boolean;
}

/**
 * Slack sends what a user typed with `&`, `<` and `>` as `&amp;`, `&lt;` and `&gt;` (its
 * formatting escapes, https://api.slack.com/reference/surfaces/formatting#escaping); the command
 * layer gets the characters themselves. `&amp;` goes last, so a typed "&lt;" stays "&lt;".
 */
export function unescapeSlackText(text: string): string {
  return text.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}

export function commandInteraction(cmd: SlashCommand, user: PlatformUser, at: Date): CommandInteraction {
  const handle: SlackReplyHandle = {
    channel: cmd.channel_id,
    ...(cmd.response_url ? { responseUrl: cmd.response_url } : {}),
    ...(cmd.trigger_id ? { triggerId: cmd.trigger_id } : {}),
  };
  return {
    kind: 'command',
    text: unescapeSlackText(cmd.text).trim(),
    dedupeKey: dedupeKeyFor('command', cmd.trigger_id, cmd),
    user,
    channel: cmd.channel_id,
    replyHandle: handle,
    receivedAt: at,
  };
}

export function actionInteraction(body: BlockAction, user: PlatformUser, at: Date): ActionInteraction {
  const action = body.actions[0]!;
  const channel = body.container?.channel_id ?? body.channel?.id ?? '';
  const messageTs = body.container?.message_ts ?? body.message?.ts;
  const handle: SlackReplyHandle = {
    channel,
    ...(body.response_url ? { responseUrl: body.response_url } : {}),
    ...(body.trigger_id ? { triggerId: body.trigger_id } : {}),
    ...(messageTs ? { messageTs } : {}),
    ...(body.container?.is_ephemeral ? { ephemeral: true } : {}),
  };
  return {
    kind: 'action',
    actionId: action.action_id,
    value: action.value ?? action.selected_option?.value ?? '',
    ...(messageTs ? { messageId: messageTs } : {}),
    dedupeKey: dedupeKeyFor('action', body.trigger_id, body),
    user,
    channel,
    replyHandle: handle,
    receivedAt: at,
  };
}

/** Submitted values by field id: the block id is the field id (modals.ts). */
export function viewValues(view: ViewSubmission['view']): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [blockId, actions] of Object.entries(view.state.values)) {
    for (const input of Object.values(actions)) {
      const value = input.selected_option?.value ?? input.value ?? '';
      values[blockId] = value;
    }
  }
  return values;
}

export function formInteraction(
  body: ViewSubmission,
  user: PlatformUser,
  at: Date,
  meta: { channel: string; state?: string; responseUrl?: string },
): FormInteraction {
  return {
    kind: 'form',
    formId: body.view.callback_id,
    values: viewValues(body.view),
    ...(meta.state === undefined ? {} : { state: meta.state }),
    dedupeKey: dedupeKeyFor('form', body.trigger_id, body),
    user,
    channel: meta.channel,
    replyHandle: {
      channel: meta.channel,
      ...(meta.responseUrl ? { responseUrl: meta.responseUrl } : {}),
    } satisfies SlackReplyHandle,
    receivedAt: at,
  };
}
