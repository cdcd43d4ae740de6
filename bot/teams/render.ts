import type { Button, Form, Reply } from '../chat/model.js';

/**
 * The neutral `Reply` as an Adaptive Card 1.5 (the newest version Teams renders on every client).
 * Text that comes from data (titles, reasons, handles) goes into RichTextBlock TextRuns, which are
 * never read as Markdown, so a reason like `[click](https://evil)` stays text. Buttons are
 * `Action.Execute` (Universal Actions): the click reaches the bot as an `adaptiveCard/action`
 * invoke and the answer can replace the card in place. A card is kept under Teams' ~28 KB message
 * limit by cutting lists ("…and N more", with a link to everything) and then long texts.
 */
export const CARD_VERSION = '1.5';
export const CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
/** Teams refuses messages above about 28 KB; the card gets this much, the envelope the rest. */
export const CARD_BUDGET_BYTES = 24 * 1024;
/** Keys Warden puts in `Action.Execute` data, read back by parse.ts. */
export const DATA_ACTION = 'wardenAction';
export const DATA_VALUE = 'wardenValue';
export const DATA_FORM = 'wardenForm';
export const DATA_STATE = 'wardenState';
/** Form inputs are named `f:<field id>` so they can never collide with the keys above. */
export const FIELD_PREFIX = 'f:';
/** The verb of a form's submit button; buttons use their actionId as the verb. */
export const FORM_VERB = 'warden.form.submit';

const MAX_ITEMS = 25;
const MAX_ACTIONS = 6;
const LIMITS = { header: 300, text: 6000, field: 2000, item: 500, context: 500 };

export type CardElement = Record<string, unknown>;

export interface AdaptiveCard {
  type: 'AdaptiveCard';
  $schema: string;
  version: string;
  body: CardElement[];
  actions?: CardElement[];
  fallbackText?: string;
  msteams?: { width: 'Full' };
}

export interface RenderOptions {
  /** A line at the top, e.g. "Only you see this". */
  note?: string;
  /** Form errors by field id, shown under their inputs. */
  fieldErrors?: Record<string, string>;
  /** What the user typed, kept when a form comes back with errors. */
  values?: Record<string, string>;
  /** A picture under the content (a digest's chart); images.ts makes it from `Reply.image`. */
  image?: CardImage;
}

/**
 * A picture as a card shows it. `url` is an https link Teams can load, or a `data:image/png`
 * URI; without one (or when the card would then be too big) the card says where the picture is.
 */
export interface CardImage {
  url?: string;
  alt: string;
  title: string;
}

const TONE_STYLE: Record<NonNullable<Reply['tone']>, string> = {
  info: 'accent',
  success: 'good',
  warning: 'warning',
  error: 'attention',
};

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Plain text that Teams never reads as Markdown. */
function plain(text: string, style: Record<string, unknown> = {}): CardElement {
  return { type: 'RichTextBlock', inlines: [{ type: 'TextRun', text, ...style }] };
}

function httpUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

/** Only what Teams loads: https links and inline PNGs. */
function imageUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  if (/^data:image\/png;base64,[A-Za-z0-9+/]+={0,2}$/.test(url)) return url;
  try {
    return new URL(url).protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function imageElement(image: CardImage): CardElement {
  const url = imageUrl(image.url);
  if (!url) {
    return plain(
      `${cut(image.title, 200)}: too large to show in Teams; see the chart on the Warden dashboard (ask Warden "dashboard" for a link).`,
      { isSubtle: true },
    );
  }
  return { type: 'Image', url, altText: cut(image.alt, 1000), size: 'Auto', spacing: 'Medium' };
}

function action(button: Button): CardElement | undefined {
  const title = cut(button.label, 60);
  if (button.url !== undefined) {
    const url = httpUrl(button.url);
    return url ? { type: 'Action.OpenUrl', title, url } : undefined;
  }
  const style =
    button.style === 'primary' ? 'positive' : button.style === 'danger' ? 'destructive' : undefined;
  return {
    type: 'Action.Execute',
    title,
    verb: button.actionId,
    data: { [DATA_ACTION]: button.actionId, [DATA_VALUE]: button.value },
    ...(style ? { style } : {}),
  };
}

function formElements(form: Form, options: RenderOptions): { body: CardElement[]; actions: CardElement[] } {
  const body: CardElement[] = [plain(cut(form.title, LIMITS.header), { weight: 'Bolder', size: 'Medium' })];
  for (const field of form.fields) {
    const id = `${FIELD_PREFIX}${field.id}`;
    const value = options.values?.[field.id] ?? field.initial;
    const common = {
      id,
      label: cut(field.label, 100),
      isRequired: field.required === true,
      ...(field.required ? { errorMessage: `${cut(field.label, 60)} is required` } : {}),
      ...(value === undefined ? {} : { value }),
    };
    if (field.kind === 'select') {
      body.push({
        type: 'Input.ChoiceSet',
        ...common,
        style: 'compact',
        choices: (field.options ?? []).map((o) => ({ title: cut(o.label, 100), value: o.value })),
      });
    } else {
      body.push({
        type: 'Input.Text',
        ...common,
        ...(field.kind === 'textarea' ? { isMultiline: true } : {}),
        ...(field.placeholder ? { placeholder: cut(field.placeholder, 200) } : {}),
        maxLength: field.kind === 'textarea' ? 4000 : 500,
      });
    }
    if (field.hint) body.push(plain(cut(field.hint, 300), { isSubtle: true, size: 'Small' }));
    const error = options.fieldErrors?.[field.id];
    if (error) body.push(plain(cut(error, 300), { color: 'Attention' }));
  }
  const submit: CardElement = {
    type: 'Action.Execute',
    title: cut(form.submitLabel, 60),
    verb: FORM_VERB,
    style: 'positive',
    data: { [DATA_FORM]: form.id, ...(form.state === undefined ? {} : { [DATA_STATE]: form.state }) },
  };
  return { body, actions: [submit] };
}

interface Caps {
  items: number;
  text: number;
  field: number;
}

function build(reply: Reply, options: RenderOptions, caps: Caps): AdaptiveCard {
  const inner: CardElement[] = [];
  if (options.note) inner.push(plain(options.note, { isSubtle: true, size: 'Small', italic: true }));
  if (reply.header) inner.push(plain(cut(reply.header, LIMITS.header), { weight: 'Bolder', size: 'Medium' }));
  if (reply.text) inner.push(plain(cut(reply.text, caps.text)));
  for (const f of reply.fields ?? []) {
    inner.push({
      type: 'RichTextBlock',
      inlines: [
        { type: 'TextRun', text: `${cut(f.label, 100)}: `, weight: 'Bolder' },
        { type: 'TextRun', text: cut(f.value, caps.field) },
      ],
    });
  }
  const items = reply.items ?? [];
  const shown = items.slice(0, caps.items);
  for (const item of shown) {
    const inlines: CardElement[] = [{ type: 'TextRun', text: `• ${cut(item.text, LIMITS.item)}` }];
    if (item.detail)
      inlines.push({ type: 'TextRun', text: `  ${cut(item.detail, LIMITS.item)}`, isSubtle: true });
    inner.push({ type: 'RichTextBlock', inlines });
  }
  const more = httpUrl(reply.moreUrl);
  if (items.length > shown.length) {
    const hidden = items.length - shown.length;
    inner.push(
      plain(`…and ${hidden} more${more ? ' (see everything with the link below)' : ''}`, { isSubtle: true }),
    );
  }
  // Under the content, above the small print: the chart belongs to the digest's figures.
  if (options.image) inner.push(imageElement(options.image));
  for (const line of reply.context ?? [])
    inner.push(plain(cut(line, LIMITS.context), { isSubtle: true, size: 'Small' }));

  const actions: CardElement[] = [];
  for (const b of reply.buttons ?? []) {
    const a = action(b);
    if (a && actions.length < MAX_ACTIONS) actions.push(a);
  }
  if (more && (items.length > shown.length || actions.length < MAX_ACTIONS)) {
    actions.push({ type: 'Action.OpenUrl', title: 'See everything', url: more });
  }

  let body: CardElement[] = inner;
  if (reply.form) {
    const form = formElements(reply.form, options);
    body = [...inner, ...form.body];
    actions.push(...form.actions);
  }
  const style = reply.tone ? TONE_STYLE[reply.tone] : undefined;
  const wrapped = style ? [{ type: 'Container', style, bleed: true, items: body }] : body;
  return {
    type: 'AdaptiveCard',
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    version: CARD_VERSION,
    body: wrapped.length ? wrapped : [plain(' ')],
    ...(actions.length ? { actions } : {}),
    fallbackText: summaryOf(reply),
    msteams: { width: 'Full' },
  };
}

/** The card's size on the wire, in bytes. */
export function cardSize(card: AdaptiveCard): number {
  return Buffer.byteLength(JSON.stringify(card), 'utf8');
}

/** One line for notifications and clients that cannot draw cards. */
export function summaryOf(reply: Reply): string {
  const first = reply.header ?? reply.text ?? reply.form?.title ?? reply.items?.[0]?.text ?? 'Warden';
  return cut(first.replace(/\s+/g, ' ').trim(), 200);
}

/**
 * @example
 * const card = renderCard({ visibility: 'public', header: 'Approval #7', buttons: [...] });
 * await client.sendToConversation(channel, { type: 'message', attachments: [cardAttachment(card)] });
 */
export function renderCard(reply: Reply, options: RenderOptions = {}): AdaptiveCard {
  const { image, ...textOptions } = options;
  // Shrink in steps until the card fits: fewer list items first, then shorter texts.
  const steps: Caps[] = [
    { items: MAX_ITEMS, text: LIMITS.text, field: LIMITS.field },
    { items: 10, text: LIMITS.text, field: LIMITS.field },
    { items: 5, text: 3000, field: 1000 },
    { items: 3, text: 1500, field: 300 },
    { items: 0, text: 500, field: 120 },
  ];
  let caps = steps[0]!;
  let card = build(reply, textOptions, caps);
  for (const next of steps.slice(1)) {
    if (cardSize(card) <= CARD_BUDGET_BYTES) break;
    caps = next;
    card = build(reply, textOptions, caps);
  }
  if (image && cardSize(card) <= CARD_BUDGET_BYTES) {
    // A picture never pushes text out: it goes in at the size the text alone needed, and when the
    // card would then be too big (an inline PNG, mostly), a line saying where it is goes instead.
    for (const candidate of image.url ? [image, { alt: image.alt, title: image.title }] : [image]) {
      const withImage = build(reply, { ...textOptions, image: candidate }, caps);
      if (cardSize(withImage) <= CARD_BUDGET_BYTES) return withImage;
    }
    return card;
  }
  if (cardSize(card) > CARD_BUDGET_BYTES) {
    // Only a pathological reply (hundreds of fields) gets here: say so rather than send nothing.
    card = build(
      {
        visibility: reply.visibility,
        header: reply.header,
        text: 'This message is too large for Teams.',
        ...(reply.moreUrl ? { moreUrl: reply.moreUrl } : {}),
        tone: 'warning',
      },
      {},
      steps[steps.length - 1]!,
    );
  }
  return card;
}

export function cardAttachment(card: AdaptiveCard): { contentType: string; content: AdaptiveCard } {
  return { contentType: CARD_CONTENT_TYPE, content: card };
}

/** A message activity carrying the reply as a card. */
export function cardMessage(
  reply: Reply,
  options: RenderOptions = {},
): { type: 'message'; summary: string; attachments: { contentType: string; content: AdaptiveCard }[] } {
  return {
    type: 'message',
    summary: summaryOf(reply),
    attachments: [cardAttachment(renderCard(reply, options))],
  };
}
