/**
 * The platform-neutral chat model. Adapters (console, Slack, Teams) turn a platform payload
 * into an `Interaction`, hand it to commands/, and render the `Reply` they get back. Nothing
 * here knows about Block Kit or Adaptive Cards.
 */

export type Platform = 'console' | 'slack' | 'teams';

/** Who clicked or typed, as the platform knows them. commands/ maps it to a Warden user. */
export interface PlatformUser {
  platform: Platform;
  /** Slack user id, Teams AAD object id, console handle. */
  externalId: string;
  displayName?: string;
  /** Only set when the platform verified it (Slack users.info, Teams roster). */
  email?: string;
}

export interface InteractionBase {
  /** Unique per delivery attempt family, so a retried webhook is processed once. */
  dedupeKey: string;
  user: PlatformUser;
  /** The conversation the request came from (channel id, conversation id, console channel). */
  channel: string;
  /** The platform's own handle for answering (response_url, activity reference, …), opaque to commands/. */
  replyHandle?: unknown;
  receivedAt: Date;
}

/** `/warden <text>` typed by a user. `text` excludes the leading `/warden`. */
export interface CommandInteraction extends InteractionBase {
  kind: 'command';
  text: string;
}

/** A button click on a message Warden posted. */
export interface ActionInteraction extends InteractionBase {
  kind: 'action';
  actionId: string;
  /** The opaque value Warden put on the button. */
  value: string;
  /** The message the button was on, when the platform says. */
  messageId?: string;
}

/** A submitted form (Slack modal, Teams card form, console form). */
export interface FormInteraction extends InteractionBase {
  kind: 'form';
  formId: string;
  values: Record<string, string>;
  /** The form's opaque `Form.state`, carried back by the adapter (Slack private_metadata, a hidden field). */
  state?: string;
}

export type Interaction = CommandInteraction | ActionInteraction | FormInteraction;

export type ButtonStyle = 'primary' | 'danger' | 'default';

export interface Button {
  label: string;
  /** Routes the click: `<capability>.<verb>`, e.g. `approval.approve`. */
  actionId: string;
  /** Opaque to adapters; at most 2,000 characters (Slack's limit). */
  value: string;
  style?: ButtonStyle;
  /** Open a URL instead of sending a click. */
  url?: string;
}

export interface Field {
  label: string;
  value: string;
}

/** A form the adapter shows when a command is missing fields (Slack modal, Teams card, console form). */
export interface FormField {
  id: string;
  label: string;
  kind: 'text' | 'textarea' | 'select' | 'duration' | 'server';
  required?: boolean;
  placeholder?: string;
  initial?: string;
  options?: { label: string; value: string }[];
  hint?: string;
}

export interface Form {
  id: string;
  title: string;
  submitLabel: string;
  fields: FormField[];
  /** Opaque state carried back on submit. */
  state?: string;
}

/** One line of a list; adapters cut long lists with "…and N more". */
export interface ListItem {
  text: string;
  /** A secondary line, e.g. an age or status. */
  detail?: string;
}

export interface Reply {
  /** Only the user who asked sees it (Slack ephemeral, Teams reply to sender, console private). */
  visibility: 'private' | 'public';
  header?: string;
  text?: string;
  fields?: Field[];
  items?: ListItem[];
  buttons?: Button[];
  /** Small print at the bottom: who decided and when, ids, ages. */
  context?: string[];
  /** A link to the full view when content was cut. */
  moreUrl?: string;
  /** Ask the adapter to open a form instead of posting a message. */
  form?: Form;
  /** Set on errors so adapters can style them. */
  tone?: 'info' | 'success' | 'warning' | 'error';
  /** A chart or picture sent with the message (digests): see `ReplyImage`. */
  image?: ReplyImage;
}

/**
 * A PNG that goes with a reply. The chat deliverer hands it to `ChatPlatform.uploadImage` when
 * the platform has one (Slack uploads a file, the console stores it in the message); platforms
 * without it receive it on the reply itself and may render it inline (a Teams card's Image).
 */
export interface ReplyImage {
  /** The PNG bytes, base64 (no `data:` prefix). */
  png: string;
  /** Says what the picture shows, for screen readers and text-only clients. */
  alt: string;
  title: string;
}

/** What a handled interaction asks the adapter to do. */
export interface InteractionResult {
  /** Post (or, for clicks, answer privately) with this reply. */
  reply?: Reply;
  /** For clicks: replace the message that was clicked with this reply (everyone sees it). */
  replaceOriginal?: Reply;
  /** For forms: field id → what is wrong with it; the adapter keeps the form open and shows them. */
  fieldErrors?: Record<string, string>;
}

/** Points at a thing that has its own message and thread: an approval request, a patch run, … */
export interface SubjectRef {
  type: string;
  id: string;
}

/**
 * What must be told elsewhere after a state change. The trail writes each one to the outbox
 * in the same transaction as the audit event; the delivery worker sends it later.
 */
export type Notification =
  /** Post the subject's message (first time) or update it in place (afterwards). */
  | { kind: 'subject-message'; subject: SubjectRef; projectId: number | null; reply: Reply }
  /** Reply in the subject's thread. */
  | { kind: 'thread-reply'; subject: SubjectRef; projectId: number | null; reply: Reply }
  /** Post to the project's channel (digests, alerts, scan summaries). */
  | {
      kind: 'channel-post';
      projectId: number | null;
      reply: Reply;
      channelRole?: 'default' | 'security' | 'approvals';
    }
  /** A direct message to a Warden user. */
  | { kind: 'direct'; userId: number; reply: Reply };
