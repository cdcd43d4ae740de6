import { AppError } from '../../lib/errors.js';

/** Keyset pagination: an opaque cursor that carries the last key of the previous page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export function encodeCursor(value: string | number): string {
  return Buffer.from(JSON.stringify({ after: value })).toString('base64url');
}

export function decodeCursor<T extends string | number>(cursor: string, type: 'string' | 'number'): T {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === type) return parsed.after as T;
  } catch {
    // fall through to the error below
  }
  throw new AppError('bad_request', 'the cursor is not one this API handed out; start again without it', {
    details: { issues: [{ path: 'cursor', message: 'unknown cursor' }] },
  });
}

/**
 * The page from rows fetched with `limit + 1`: the extra row only says whether there is more,
 * and the cursor carries the key of the last item shown.
 */
export function pageOf<T>(rows: readonly T[], limit: number, keyOf: (last: T) => string | number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(keyOf(last)) : null };
}
