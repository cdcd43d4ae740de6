import type { types } from '@slack/bolt';
import type { Button, Reply } from '../chat/model.js';

/**
 * Block Kit from the neutral `Reply`, always within Slack's documented limits: Slack rejects a
 * whole message for one field too long, so long content is cut here — with "…and N more" and a
 * link to the full view — rather than rejected there.
 */

/** docs.slack.dev/reference/block-kit: the limits this renderer keeps to. */
export const BLOCK_LIMITS = {
  messageBlocks: 50,
  viewBlocks: 100,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  headerText: 150,
  contextElements: 10,
  contextText: 3000,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2000,
  buttonUrl: 3000,
  actionId: 255,
  /** The notification text; Slack truncates above 40,000, a notification needs far less. */
  fallbackText: 3000,
} as const;

export type SlackBlock = types.KnownBlock;

export interface RenderedMessage {
  /** Shown in notifications and by clients that cannot draw blocks. */
  text: string;
  blocks: SlackBlock[];
}

/** Clicks on link buttons come back with this prefix and are ignored (the browser opened the URL). */
export const LINK_ACTION_PREFIX = 'link:';

const TONE_MARK: Record<NonNullable<Reply['tone']>, string> = {
  info: '',
  success: ':white_check_mark: ',
  warning: ':warning: ',
  error: ':x: ',
};

/** Slack counts characters (code points), not UTF-16 units. */
export function charLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** At most `max` characters, the last one an ellipsis when something was cut. */
export function cut(text: string, max: number): string {
  if (charLength(text) <= max) return text;
  return `${[...text].slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** Escape the three characters mrkdwn gives meaning (links, mentions like <!channel>). */
export function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** Escaped mrkdwn of at most `max` characters, counting the escapes. */
export function mrkdwn(text: string, max: number): string {
  let raw = text;
  for (;;) {
    const escaped = escapeMrkdwn(raw);
    const over = charLength(escaped) - max;
    if (over <= 0) return escaped;
    raw = cut(raw, Math.max(1, charLength(raw) - over - 1));
    if (charLength(raw) <= 1) return cut(escaped, max);
  }
}

/** A link in mrkdwn, only for http(s) URLs; `<` `>` `|` cannot appear inside. */
export function link(url: string, label: string): string | undefined {
  if (!/^https?:\/\/[^\s<>|]+$/i.test(url) || charLength(url) > BLOCK_LIMITS.buttonUrl) return undefined;
  return `<${url}|${escapeMrkdwn(label)}>`;
}

function section(text: string): SlackBlock {
  return { type: 'section', text: { type: 'mrkdwn', text } };
}

/** Split text into pieces of at most `max` escaped characters, at line ends where possible. */
export function chunkText(text: string, max: number): string[] {
  const out: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    const piece = escapeMrkdwn(line);
    const joined = current ? `${current}\n${piece}` : piece;
    if (charLength(joined) <= max) {
      current = joined;
      continue;
    }
    if (current) out.push(current);
    current = charLength(piece) <= max ? piece : mrkdwn(line, max);
  }
  if (current) out.push(current);
  return out;
}

interface Unit {
  block: SlackBlock;
  /** How many list items / fields this block carries (for "…and N more"). */
  entries: number;
  what: 'text' | 'fields' | 'items';
}

function contentUnits(reply: Reply): Unit[] {
  const units: Unit[] = [];
  if (reply.header) {
    units.push({
      block: {
        type: 'header',
        text: { type: 'plain_text', text: cut(reply.header, BLOCK_LIMITS.headerText) },
      },
      entries: 0,
      what: 'text',
    });
  }
  if (reply.text) {
    const mark = reply.tone ? TONE_MARK[reply.tone] : '';
    for (const [i, chunk] of chunkText(reply.text, BLOCK_LIMITS.sectionText - 20).entries()) {
      units.push({ block: section(i === 0 ? `${mark}${chunk}` : chunk), entries: 0, what: 'text' });
    }
  }
  const fields = reply.fields ?? [];
  for (let i = 0; i < fields.length; i += BLOCK_LIMITS.sectionFields) {
    const group = fields.slice(i, i + BLOCK_LIMITS.sectionFields);
    units.push({
      block: {
        type: 'section',
        fields: group.map((f) => ({
          type: 'mrkdwn' as const,
          text: mrkdwn(`*${f.label}*\n${f.value || '—'}`, BLOCK_LIMITS.fieldText),
        })),
      },
      entries: group.length,
      what: 'fields',
    });
  }
  let lines: string[] = [];
  let size = 0;
  const flush = () => {
    if (lines.length === 0) return;
    units.push({ block: section(lines.join('\n')), entries: lines.length, what: 'items' });
    lines = [];
    size = 0;
  };
  for (const item of reply.items ?? []) {
    const detail = item.detail ? ` — _${mrkdwn(item.detail, 500)}_` : '';
    const line = `• ${mrkdwn(item.text, 1000)}${detail}`;
    const length = charLength(line) + 1;
    if (size + length > BLOCK_LIMITS.sectionText) flush();
    lines.push(line);
    size += length;
  }
  flush();
  return units;
}

function buttonElement(button: Button): types.Button | undefined {
  const text = {
    type: 'plain_text' as const,
    text: cut(button.label || '…', BLOCK_LIMITS.buttonText),
    emoji: true,
  };
  if (button.url) {
    if (!/^https?:\/\//i.test(button.url) || charLength(button.url) > BLOCK_LIMITS.buttonUrl)
      return undefined;
    const actionId = cut(`${LINK_ACTION_PREFIX}${button.actionId}`, BLOCK_LIMITS.actionId);
    return { type: 'button', text, url: button.url, action_id: actionId };
  }
  // Ids and values route the click; a cut one would route it wrongly, so such a button is left out.
  if (
    charLength(button.actionId) > BLOCK_LIMITS.actionId ||
    charLength(button.value) > BLOCK_LIMITS.buttonValue
  ) {
    return undefined;
  }
  return {
    type: 'button',
    text,
    action_id: button.actionId,
    value: button.value,
    ...(button.style && button.style !== 'default' ? { style: button.style } : {}),
  };
}

function contextBlock(lines: readonly string[]): SlackBlock | undefined {
  if (lines.length === 0) return undefined;
  const max = BLOCK_LIMITS.contextElements;
  // More lines than elements: the last element carries the rest, one per line.
  const grouped =
    lines.length <= max ? [...lines] : [...lines.slice(0, max - 1), lines.slice(max - 1).join('\n')];
  return {
    type: 'context',
    elements: grouped.map((l) => ({
      type: 'mrkdwn' as const,
      text: mrkdwn(l || ' ', BLOCK_LIMITS.contextText),
    })),
  };
}

function fallbackText(reply: Reply): string {
  const mark = reply.tone ? TONE_MARK[reply.tone] : '';
  const parts = [reply.header, reply.text].filter(Boolean).join(': ');
  const first = reply.items?.[0]?.text ?? reply.fields?.[0]?.value ?? reply.form?.title ?? 'Warden';
  return cut(`${mark}${parts || first}`, BLOCK_LIMITS.fallbackText);
}

/**
 * Render a reply as blocks for a message (50 blocks) or a view (100, less what the view adds).
 *
 * @example
 * const { text, blocks } = renderReply({ visibility: 'public', header: 'Scan', items });
 * await client.chat.postMessage({ channel, text, blocks });
 */
export function renderReply(reply: Reply, options: { maxBlocks?: number } = {}): RenderedMessage {
  const maxBlocks = options.maxBlocks ?? BLOCK_LIMITS.messageBlocks;
  const buttons = (reply.buttons ?? []).map(buttonElement).filter((b): b is types.Button => b !== undefined);
  const shownButtons = buttons.slice(0, BLOCK_LIMITS.actionsElements);
  const tail: SlackBlock[] = [];
  if (shownButtons.length > 0) tail.push({ type: 'actions', elements: shownButtons });
  const context = contextBlock(reply.context ?? []);
  if (context) tail.push(context);

  const units = contentUnits(reply);
  const more = reply.moreUrl ? link(reply.moreUrl, 'Open the full view') : undefined;
  const fits = units.length + tail.length + (more ? 1 : 0) <= maxBlocks;
  const keep = fits ? units.length : Math.max(0, maxBlocks - tail.length - 1);
  const kept = units.slice(0, keep);
  const dropped = units.slice(keep);
  const blocks: SlackBlock[] = kept.map((u) => u.block);

  const hiddenButtons = buttons.length - shownButtons.length;
  if (dropped.length > 0 || hiddenButtons > 0) {
    const entries = dropped.reduce((n, u) => n + u.entries, 0);
    const parts: string[] = [];
    if (entries > 0) parts.push(`…and ${entries} more`);
    else if (dropped.length > 0) parts.push('…and more');
    if (hiddenButtons > 0)
      parts.push(`${hiddenButtons} more action${hiddenButtons === 1 ? '' : 's'} not shown`);
    const where = more
      ? ` ${more}`
      : ' Not all of it fits in one Slack message: narrow the command to see the rest.';
    blocks.push(section(`${parts.join('; ')}.${where}`));
  } else if (more) {
    blocks.push(section(more));
  }
  blocks.push(...tail);
  return { text: fallbackText(reply), blocks: blocks.slice(0, maxBlocks) };
}
