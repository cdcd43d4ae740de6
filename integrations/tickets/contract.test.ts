import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { startHarness, type TicketHarness, VARIANTS } from './testing.js';
import { validateTicket } from './validate.js';

const HOSTILE_KEYS = [
  'OPS-1; rm -rf /',
  '$(reboot)',
  'OPS-1\nOPS-2',
  'OPS-１２',
  '../../admin',
  'CHG0030001^active=true',
];
const HOSTILE_TEXT = 'done; rm -rf / $(reboot) `id`\nsecond line — ünïcødé 🚀 <script>alert(1)</script>';

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

describe.each(VARIANTS)('the %s ticket system', (variant) => {
  const clock = createFakeClock('2026-03-02T10:00:00Z');
  let h: TicketHarness;

  beforeAll(async () => {
    h = await startHarness(variant, clock);
  });
  afterEach(() => h.server.verify());
  afterAll(() => h.stop());

  it('accepts an open ticket for an access request and reports its status and link', async () => {
    const key = h.seed('open');
    const ticket = await validateTicket({ tickets: h.tickets }, ` ${key.toLowerCase()} `);
    expect(ticket).toMatchObject({
      checked: true,
      key,
      open: true,
      statusCategory: 'open',
      system: h.tickets.name,
    });
    expect(ticket.checked && ticket.url.startsWith(h.server.url)).toBe(true);
  });

  it('refuses a missing, unknown or closed ticket with a message that says what to do', async () => {
    expect((await refusal(validateTicket({ tickets: h.tickets }, undefined))).message).toMatch(
      /^name the ticket/,
    );
    expect((await refusal(validateTicket({ tickets: h.tickets }, '   '))).code).toBe('bad_request');
    const unknown = await refusal(validateTicket({ tickets: h.tickets }, h.unknownKey));
    expect(unknown.message).toBe(
      `ticket ${h.unknownKey} does not exist in ${h.tickets.name === 'jira' ? 'Jira' : 'ServiceNow'} (or Warden's service account cannot see it); check the key`,
    );
    const closed = h.seed('closed');
    const status = h.tickets.name === 'jira' ? 'Done' : 'Closed';
    const error = await refusal(validateTicket({ tickets: h.tickets }, closed));
    expect(error.code).toBe('bad_request');
    expect(error.message).toBe(
      `ticket ${closed} is ${status}; access needs an open ticket — reopen it or name another`,
    );
  });

  it('refuses hostile keys before anything reaches the ticket system', async () => {
    const before = h.server.requests.length;
    for (const key of HOSTILE_KEYS) {
      expect((await refusal(validateTicket({ tickets: h.tickets }, key))).message).toMatch(
        /is not a (Jira|ServiceNow) ticket key/,
      );
      expect(await h.tickets.get(key)).toBeUndefined();
      await expect(h.tickets.comment(key, 'x', { idempotencyKey: 'k' })).rejects.toMatchObject({
        code: 'bad_request',
      });
      await expect(
        h.tickets.transition(key, 'done', { idempotencyKey: 'k', comment: 'x' }),
      ).rejects.toMatchObject({
        code: 'bad_request',
      });
      await expect(h.tickets.link(key, 'https://example.com')).rejects.toMatchObject({ code: 'bad_request' });
    }
    expect(h.server.requests.length).toBe(before);
  });

  it('posts hostile comment text verbatim as data, with the idempotency marker', async () => {
    const key = h.seed('open');
    await h.tickets.comment(key, HOSTILE_TEXT, { idempotencyKey: 'audit:1:x0:ticket' });
    expect(h.comments(key)).toEqual([`${HOSTILE_TEXT}\n\n[warden:audit:1:x0:ticket]`]);
    expect(await h.tickets.hasMarker(key, 'audit:1:x0:ticket')).toBe(true);
    expect(await h.tickets.hasMarker(key, 'audit:2:x0:ticket')).toBe(false);
  });

  it('opens a ticket once when the same open is sent twice', async () => {
    const count = h.keys().length;
    const input = {
      kind: 'change' as const,
      summary: 'Patch web-01\nnow',
      description: 'plan',
      idempotencyKey: 'audit:9:x0:ticket',
    };
    const first = await h.tickets.open(input);
    const second = await h.tickets.open(input);
    expect(first.created).toBe(true);
    expect(second).toEqual({ ...first, created: false });
    expect(h.keys().length).toBe(count + 1);
    expect((await h.tickets.get(first.key))?.summary).toBe('Patch web-01 now');
  });

  it('moves a ticket along its workflow, with the comment in the same step', async () => {
    const key = h.seed('open');
    const result = await h.tickets.transition(key, 'approved', {
      idempotencyKey: 'approve-1',
      comment: 'Approved by bob',
    });
    expect(result.applied.length).toBeGreaterThan(0);
    expect((await h.tickets.get(key))?.statusCategory).toBe('in-progress');
    expect(h.comments(key)).toEqual(['Approved by bob\n\n[warden:approve-1]']);
    const cancelled = await h.tickets.transition(key, 'cancelled', {
      idempotencyKey: 'cancel-1',
      comment: 'Withdrawn',
    });
    expect(cancelled.to).toMatch(/Cancel/);
    // A closed ticket is not reopened by a later move: it only gets the comment.
    const late = await h.tickets.transition(key, 'done', {
      idempotencyKey: 'done-1',
      comment: 'Late report',
    });
    expect(late.applied).toEqual([]);
    expect(h.comments(key).at(-1)).toBe('Late report\n\n[warden:done-1]');
  });

  it('links a ticket to a URL once, however often it is asked', async () => {
    const key = h.seed('open');
    await h.tickets.link(key, 'https://warden.example.com/plans/7');
    await h.tickets.link(key, 'https://warden.example.com/plans/7');
    await expect(h.tickets.link(key, 'javascript:alert(1)')).rejects.toMatchObject({ code: 'bad_request' });
    if (h.tickets.name === 'servicenow') {
      expect(
        h.comments(key).filter((c) => c.startsWith('Related: https://warden.example.com/plans/7')),
      ).toHaveLength(1);
    } else {
      const links = h.server.requests.filter((r) => r.path.endsWith(`/issue/${key}/remotelink`));
      expect(links).toHaveLength(2);
      expect(links.map((r) => (r.body as { globalId: string }).globalId)).toEqual([
        'warden:https://warden.example.com/plans/7',
        'warden:https://warden.example.com/plans/7',
      ]);
    }
  });

  it('turns an error body into an error in the ticket system’s own words', async () => {
    h.server.failNext(() => true, {
      status: 500,
      body:
        h.tickets.name === 'jira'
          ? { errorMessages: ['Internal database hiccup'], errors: {} }
          : { error: { message: 'Internal database hiccup', detail: 'try later' }, status: 'failure' },
    });
    const key = h.seed('open');
    const error = await refusal(h.tickets.get(key));
    expect(error.code).toBe('integration');
    expect(error.message).toMatch(/Internal database hiccup/);
  });
});

describe('validateTicket without a ticket system', () => {
  it('accepts any well-formed Jira or ServiceNow key without asking anyone', async () => {
    expect(await validateTicket({}, 'ops-12')).toEqual({ checked: false, key: 'OPS-12', system: 'jira' });
    expect(await validateTicket({}, 'CHG0030001')).toEqual({
      checked: false,
      key: 'CHG0030001',
      system: 'servicenow',
    });
    expect(await validateTicket({}, 'RITM0010001')).toMatchObject({ system: 'servicenow' });
  });

  it('refuses a missing or malformed key', async () => {
    await expect(validateTicket({}, null)).rejects.toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(/^name the ticket/),
    });
    for (const key of ['OPS', '12', 'CHG123', 'OPS-1; rm -rf /', '$(id)']) {
      await expect(validateTicket({}, key)).rejects.toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/is not a ticket key/),
      });
    }
  });
});
