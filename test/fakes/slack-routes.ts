import { isAnswer, type MethodContext, readContent } from './slack-api.js';
import type { SlackState } from './slack-state.js';
import type { RecordedRequest, RouteHandler } from './strict-http.js';

/** Request parsing shared by the Slack fake, and its two non-API endpoints: upload URLs and response URLs. */

type Violation = (kind: string, message: string) => void;

const JSON_FIELDS = ['blocks', 'view', 'attachments', 'files'];

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** Query and body merged; the token taken out. JSON bodies must carry the token in the header, as on Slack. */
export function readArgs(req: RecordedRequest): { args: Record<string, unknown>; token?: string } {
  const args: Record<string, unknown> = { ...req.query, ...(isRecord(req.body) ? req.body : {}) };
  const header = req.headers.authorization ?? '';
  const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
  const bodyToken = req.contentType === 'application/json' ? undefined : args.token;
  delete args.token;
  return { args, token: bearer ?? (typeof bodyToken === 'string' ? bodyToken : undefined) };
}

export function decodeArgs(args: Record<string, unknown>): Record<string, unknown> {
  const decoded = { ...args };
  for (const key of JSON_FIELDS) {
    const value = decoded[key];
    if (typeof value !== 'string') continue;
    try {
      decoded[key] = JSON.parse(value);
    } catch {
      // Left as sent: the method itself reports malformed JSON.
    }
  }
  return decoded;
}

/** The upload URL that files.getUploadURLExternal hands out: raw bytes or a multipart file. */
export function uploadRoute(state: SlackState, violation: Violation): RouteHandler {
  return (req, params) => {
    const file = state.files.get(params.fileId ?? '');
    if (!file) {
      violation('unknown_upload', `bytes posted to an upload URL that was never issued (${req.path})`);
      return { status: 404, body: 'not_found' };
    }
    const part = isRecord(req.body)
      ? Object.values(req.body).find((v) => isRecord(v) && 'data' in v)
      : undefined;
    const data = isRecord(part) && Buffer.isBuffer(part.data) ? part.data : req.rawBody;
    if (file.data) violation('double_upload', `file ${file.id} was uploaded twice`);
    if (data.length !== file.length) {
      violation(
        'upload_length_mismatch',
        `file ${file.id} declared ${file.length} bytes, sent ${data.length}`,
      );
    }
    file.data = data;
    return { status: 200, body: `OK - ${data.length}` };
  };
}

/** A response_url: JSON only, five uses, replace_original / delete_original on the source message. */
export function responseUrlRoute(state: SlackState, origin: string, violation: Violation): RouteHandler {
  return (req, params) => {
    const entry = state.responseUrls.get(params.id ?? '');
    if (!entry) {
      violation('unknown_response_url', `post to a response_url that was never issued (${req.path})`);
      return { status: 404, body: { ok: false, error: 'invalid_response_url' } };
    }
    // Slack allows five uses of a response_url (within 30 minutes).
    if (entry.uses >= 5) {
      violation('response_url_used_up', `response_url ${entry.id} used more than 5 times`);
      return { status: 404, body: { ok: false, error: 'used_url' } };
    }
    if (!isRecord(req.body) || req.contentType !== 'application/json') {
      violation(
        'invalid_payload',
        `response_url ${entry.id} needs a JSON body, got ${req.contentType || 'none'}`,
      );
      return { status: 400, body: { ok: false, error: 'invalid_payload' } };
    }
    entry.uses += 1;
    const body = req.body;
    entry.posts.push(body);
    const ctx: MethodContext = { method: 'response_url', args: body, state, origin, violation };
    const target = entry.message;
    const message = target ? state.messages.get(target.channel)?.find((m) => m.ts === target.ts) : undefined;
    if (body.delete_original === true) {
      const list = target ? state.messages.get(target.channel) : undefined;
      if (list && message) list.splice(list.indexOf(message), 1);
      return { status: 200, body: { ok: true } };
    }
    const content = readContent(ctx, { requireContent: true, truncate: true });
    if (isAnswer(content)) return { status: 400, body: content };
    if (body.replace_original === true && message) {
      message.text = content.text ?? '';
      message.blocks = content.blocks;
      message.edits += 1;
    }
    return { status: 200, body: { ok: true } };
  };
}
