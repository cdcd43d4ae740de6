import type { types } from '@slack/bolt';
import { parseDuration } from '../../commands/grammar.js';
import { isAppError } from '../../lib/errors.js';
import type { Form, FormField } from '../chat/model.js';
import type { ViewSubmission } from './parse.js';
import { BLOCK_LIMITS, cut, mrkdwn, type SlackBlock } from './render.js';

/**
 * A neutral `Form` as a Slack modal, and a submitted modal back as values with field-level
 * errors. Each input block's `block_id` is the field id and its `action_id` the field kind, so
 * a submission can be checked (a duration that does not parse) without remembering the form.
 */

export const MODAL_LIMITS = {
  title: 24,
  button: 24,
  privateMetadata: 3000,
  callbackId: 255,
  label: 2000,
  placeholder: 150,
  options: 100,
  optionText: 75,
  optionValue: 150,
  inputValue: 3000,
} as const;

/** What a modal carries back on submit (private_metadata). */
export interface ModalMeta {
  /** The channel the command was typed in; answers go there. */
  channel: string;
  /** The form's opaque state. */
  state?: string;
  /** The slash command's response_url, while it fits. */
  responseUrl?: string;
}

const FIELD_ID = /^[A-Za-z0-9_.-]{1,200}$/;
const ERROR_BLOCK_ID = 'warden-error';

export function encodeMeta(meta: ModalMeta): string {
  const full = JSON.stringify({ c: meta.channel, s: meta.state, r: meta.responseUrl });
  if (full.length <= MODAL_LIMITS.privateMetadata) return full;
  // The response_url is a convenience (answers can go by chat.postEphemeral); the state is not.
  const lean = JSON.stringify({ c: meta.channel, s: meta.state });
  if (lean.length <= MODAL_LIMITS.privateMetadata) return lean;
  throw new Error(
    `form state is ${meta.state?.length ?? 0} characters; a Slack modal carries at most about 2,900`,
  );
}

export function decodeMeta(text: string | undefined): ModalMeta | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as { c?: unknown; s?: unknown; r?: unknown };
    if (typeof value.c !== 'string') return undefined;
    return {
      channel: value.c,
      ...(typeof value.s === 'string' ? { state: value.s } : {}),
      ...(typeof value.r === 'string' ? { responseUrl: value.r } : {}),
    };
  } catch {
    return undefined;
  }
}

function plain(text: string, max: number): types.PlainTextElement {
  return { type: 'plain_text', text: cut(text || ' ', max) };
}

function option(label: string, value: string): types.PlainTextOption {
  return { text: plain(label, MODAL_LIMITS.optionText), value };
}

function element(field: FormField): types.InputBlockElement {
  const placeholder = field.placeholder
    ? { placeholder: plain(field.placeholder, MODAL_LIMITS.placeholder) }
    : {};
  switch (field.kind) {
    case 'select': {
      const options = (field.options ?? [])
        .filter((o) => o.value.length > 0 && o.value.length <= MODAL_LIMITS.optionValue)
        .slice(0, MODAL_LIMITS.options)
        .map((o) => option(o.label, o.value));
      const initial = options.find((o) => o.value === field.initial);
      return {
        type: 'static_select',
        action_id: 'select',
        options,
        ...placeholder,
        ...(initial ? { initial_option: initial } : {}),
      };
    }
    case 'server':
      // Options come from the options endpoint as the user types (an external select).
      return {
        type: 'external_select',
        action_id: 'server',
        min_query_length: 1,
        ...placeholder,
        ...(field.initial && field.initial.length <= MODAL_LIMITS.optionValue
          ? { initial_option: option(field.initial, field.initial) }
          : {}),
      };
    default:
      return {
        type: 'plain_text_input',
        action_id: field.kind,
        multiline: field.kind === 'textarea',
        max_length: MODAL_LIMITS.inputValue,
        ...placeholder,
        ...(field.initial ? { initial_value: cut(field.initial, MODAL_LIMITS.inputValue) } : {}),
      };
  }
}

/**
 * The modal for `form`. Fields past the view's 100-block limit, or with ids Slack cannot carry,
 * are left out and named in a note at the top.
 */
export function formToModal(form: Form, meta: ModalMeta): types.ModalView {
  const usable = form.fields.filter((f) => FIELD_ID.test(f.id));
  const shown = usable.slice(0, BLOCK_LIMITS.viewBlocks - 1);
  const left = form.fields.length - shown.length;
  const blocks: SlackBlock[] = [];
  if (left > 0) {
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `${left} field(s) could not be shown in Slack; use the command form instead.`,
        },
      ],
    });
  }
  for (const field of shown) {
    blocks.push({
      type: 'input',
      block_id: field.id,
      label: plain(field.label, MODAL_LIMITS.label),
      optional: !field.required,
      element: element(field),
      ...(field.hint ? { hint: plain(field.hint, MODAL_LIMITS.label) } : {}),
    });
  }
  return {
    type: 'modal',
    callback_id: cut(form.id, MODAL_LIMITS.callbackId),
    title: plain(form.title, MODAL_LIMITS.title),
    submit: plain(form.submitLabel || 'Submit', MODAL_LIMITS.button),
    close: plain('Cancel', MODAL_LIMITS.button),
    private_metadata: encodeMeta(meta),
    blocks,
  };
}

/** Field-level problems Slack can show under each input, by block id (= field id). */
export function checkSubmission(view: ViewSubmission['view']): Record<string, string> {
  const errors: Record<string, string> = {};
  const optional = new Map<string, boolean>();
  for (const block of (view.blocks as
    | { type?: string; block_id?: string; optional?: boolean }[]
    | undefined) ?? []) {
    if (block.type === 'input' && block.block_id) optional.set(block.block_id, block.optional === true);
  }
  for (const [blockId, actions] of Object.entries(view.state.values)) {
    for (const [kind, input] of Object.entries(actions)) {
      const value = (input.selected_option?.value ?? input.value ?? '').trim();
      if (!value) {
        if (optional.get(blockId) === false) errors[blockId] = 'This field is required.';
        continue;
      }
      if (kind === 'duration') {
        try {
          parseDuration(value);
        } catch (error) {
          errors[blockId] = isAppError(error) ? error.message : 'Write a duration like 2h or 1d.';
        }
      }
    }
  }
  return errors;
}

/** Slack shows at most a short line under a field; keep each message readable. */
export function fieldErrorsResponse(errors: Record<string, string>): {
  response_action: 'errors';
  errors: Record<string, string>;
} {
  const out: Record<string, string> = {};
  for (const [field, message] of Object.entries(errors)) out[field] = cut(message, 300);
  return { response_action: 'errors', errors: out };
}

interface SubmittedBlock {
  type?: string;
  block_id?: string;
  element?: Record<string, unknown>;
}

/**
 * The submitted modal again, with `message` at the top and what the user typed kept: for an
 * error that belongs to no single field (the request was refused as a whole).
 */
export function modalWithError(view: ViewSubmission['view'], message: string): types.ModalView {
  const source = view as unknown as Record<string, unknown>;
  const blocks = ((source.blocks as SubmittedBlock[] | undefined) ?? [])
    .filter((b) => b.block_id !== ERROR_BLOCK_ID)
    .map((block) => {
      const state = block.block_id ? view.state.values[block.block_id] : undefined;
      const input = state ? Object.values(state)[0] : undefined;
      if (block.type !== 'input' || !block.element || !input) return block;
      const element = { ...block.element };
      delete element.initial_value;
      delete element.initial_option;
      if (input.value) element.initial_value = input.value;
      if (input.selected_option) element.initial_option = input.selected_option;
      return { ...block, element };
    });
  const notice = {
    type: 'section',
    block_id: ERROR_BLOCK_ID,
    text: { type: 'mrkdwn', text: `:x: ${mrkdwn(message, BLOCK_LIMITS.sectionText - 10)}` },
  };
  return {
    type: 'modal',
    callback_id: view.callback_id,
    title: (source.title as types.PlainTextElement | undefined) ?? plain('Warden', MODAL_LIMITS.title),
    ...(source.submit ? { submit: source.submit as types.PlainTextElement } : {}),
    ...(source.close ? { close: source.close as types.PlainTextElement } : {}),
    ...(view.private_metadata ? { private_metadata: view.private_metadata } : {}),
    blocks: [notice, ...blocks].slice(0, BLOCK_LIMITS.viewBlocks) as SlackBlock[],
  };
}
