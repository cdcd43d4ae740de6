import { createHmac } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../bot/app.js';
import { openApproval } from '../../commands/approvals/open.js';
import { type ApprovalSubject, createApprovalSubjects } from '../../commands/approvals/subjects.js';
import { createActor, createProjectRow, uniqueHandle } from '../../commands/approvals/testing.js';
import type { Actor } from '../../commands/rbac/authorize.js';
import { createFakeClock } from '../../lib/clock.js';
import { getApprovalRequest } from '../../storage/approvals.js';
import { withTx } from '../../storage/db.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { parseTicketsConfig, type TicketsConfig } from './config.js';
import { createTicketHooks, safeEqual, validJiraSignature } from './inbound.js';
import { linkTicket } from './subjects.js';

const db = useTestDatabase('tickets-inbound');
const SECRET = 'jira-webhook-secret-0123456789';
const TOKEN = 'snow-inbound-token-0123456789';
const clock = createFakeClock('2026-03-02T10:00:00Z');

const jiraConfig = parseTicketsConfig({
  TICKETS_SYSTEM: 'jira',
  JIRA_URL: 'https://acme.atlassian.net',
  JIRA_EMAIL: 'warden@example.com',
  JIRA_API_TOKEN: 'token',
  JIRA_PROJECT_KEY: 'OPS',
  JIRA_WEBHOOK_SECRET: SECRET,
});
const snowConfig = parseTicketsConfig({
  TICKETS_SYSTEM: 'servicenow',
  SERVICENOW_URL: 'https://acme.service-now.com',
  SERVICENOW_USER: 'warden',
  SERVICENOW_PASSWORD: 'pw',
  SERVICENOW_INBOUND_TOKEN: TOKEN,
});

/** A subject whose cancellation hook records what it was told (a patch plan, later). */
const cancelledPlans: string[] = [];
const planSubject: ApprovalSubject = {
  type: 'patch-plan',
  onApproved: async () => {},
  onCancelled: async (_tx, _deps, request, context) => {
    cancelledPlans.push(`${request.subjectId} by ${context.actor}`);
  },
};

let deps: TestDeps;
let requester: Actor;
let projectId: number;

function app(config: TicketsConfig) {
  return createApp({ deps, mounts: [{ path: '/', app: createTicketHooks(deps, config) }] });
}

/** A pending approval for a plan whose change request is `key`. */
async function pendingPlan(system: 'jira' | 'servicenow', key: string): Promise<number> {
  const planId = uniqueHandle('plan');
  return withTx(deps.sql, async (tx) => {
    const { request } = await openApproval(tx, deps, {
      subject: { type: 'patch-plan', id: planId },
      projectId,
      requester,
      permission: 'patch:approve',
      title: `Patch plan ${planId}`,
    });
    await linkTicket(tx, deps, {
      subject: { type: 'patch-plan', id: planId },
      ticket: { system, key, url: `https://t/${key}` },
      actor: `user:${requester.user.handle}`,
    });
    return request.id;
  });
}

function jiraHook(key: string, status: string, category: string, id = '10001') {
  return JSON.stringify({
    timestamp: 1772445600000,
    webhookEvent: 'jira:issue_updated',
    user: { displayName: 'Jane Change-Manager' },
    issue: { id, key, fields: { status: { name: status, statusCategory: { key: category } } } },
    changelog: { id: `cl-${id}`, items: [{ field: 'status', fromString: 'Open', toString: status }] },
  });
}

function sign(body: string, secret = SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function postJira(config: TicketsConfig, body: string, headers: Record<string, string>, query = '') {
  return app(config).request(`/hooks/jira${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

async function trailCount(): Promise<number> {
  const [row] = await deps.sql<{ n: number }[]>`select count(*)::int as n from audit_events`;
  return row!.n;
}

async function deliveries(): Promise<number> {
  const [row] = await deps.sql<{ n: number }[]>`select count(*)::int as n from ticket_inbound`;
  return row!.n;
}

beforeAll(async () => {
  deps = createTestDeps(db.current.sql, { clock, approvalSubjects: createApprovalSubjects([planSubject]) });
  projectId = (await createProjectRow(db.current.sql, uniqueHandle('prod'))).id;
  requester = await createActor(db.current.sql, uniqueHandle('carol'), [['patch-manager', projectId]]);
  await createActor(db.current.sql, uniqueHandle('bob'), [['approver', projectId]]);
});
beforeEach(() => {
  cancelledPlans.length = 0;
});

describe('the Jira webhook', () => {
  it('cancels the pending approval of a plan whose change was rejected in Jira, on the trail', async () => {
    const requestId = await pendingPlan('jira', 'OPS-12');
    const body = jiraHook('OPS-12', 'Rejected', 'done');
    const res = await postJira(jiraConfig, body, {
      'x-hub-signature': sign(body),
      'x-atlassian-webhook-identifier': 'd-1',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      action: 'handled',
      result: { duplicate: false, cancelled: [requestId] },
    });

    const request = await getApprovalRequest(deps.sql, requestId);
    expect(request).toMatchObject({
      status: 'cancelled',
      decidedReason: 'Jira OPS-12 was moved to Rejected by Jane Change-Manager',
    });
    expect(cancelledPlans).toEqual([`${request!.subjectId} by system`]);
    const events = await deps.sql<{ action: string; data: Record<string, unknown> }[]>`
      select action, data from audit_events
      where (subject_type = 'approval' and subject_id = ${String(requestId)}) or subject_type = 'ticket'
      order by seq`;
    expect(events.map((e) => e.action)).toEqual([
      'approval.requested',
      'approval.cancelled',
      'ticket.closed',
    ]);
    expect(events[1]!.data).toMatchObject({ ticket: { system: 'jira', key: 'OPS-12', status: 'Rejected' } });
    expect(events[2]!.data).toMatchObject({ key: 'OPS-12', cancelled: [requestId], deliveryId: 'd-1' });
  });

  it('changes nothing when the same delivery comes again', async () => {
    const requestId = await pendingPlan('jira', 'OPS-13');
    const body = jiraHook('OPS-13', 'Cancelled', 'done', '10013');
    const headers = { 'x-hub-signature': sign(body), 'x-atlassian-webhook-identifier': 'd-13' };
    expect((await postJira(jiraConfig, body, headers)).status).toBe(200);
    const before = await trailCount();
    const again = await postJira(jiraConfig, body, headers);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ result: { duplicate: true, cancelled: [] } });
    expect(await trailCount()).toBe(before);
    expect((await getApprovalRequest(deps.sql, requestId))?.status).toBe('cancelled');
  });

  it('refuses forged calls with 401 and changes nothing', async () => {
    const requestId = await pendingPlan('jira', 'OPS-14');
    const body = jiraHook('OPS-14', 'Rejected', 'done', '10014');
    const forged: [Record<string, string>, string][] = [
      [{}, ''],
      [{ 'x-hub-signature': sign(body, 'not-the-secret-at-all-000') }, ''],
      [{ 'x-hub-signature': sign(jiraHook('OPS-99', 'Rejected', 'done')) }, ''],
      [{ 'x-hub-signature': 'sha256=' }, ''],
      [{ 'x-hub-signature': `sha1=${'0'.repeat(40)}` }, ''],
      [{ 'x-hub-signature': sign(body).toUpperCase().replace('SHA256', 'sha256').slice(0, 60) }, ''],
      [{}, `?secret=${encodeURIComponent(`${SECRET}x`)}`],
      [{}, '?secret='],
      [{ 'x-hub-signature': '$(reboot); rm -rf /\n' }, ''],
    ];
    const trail = await trailCount();
    const seen = await deliveries();
    for (const [headers, query] of forged) {
      const res = await postJira(jiraConfig, body, headers, query);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'unauthenticated' } });
    }
    const noSecret = parseTicketsConfig({ ...jiraEnv(), JIRA_WEBHOOK_SECRET: undefined });
    const res = await postJira(noSecret, body, { 'x-hub-signature': sign(body) });
    expect(res.status).toBe(401);
    expect((await res.json()).error.message).toMatch(/JIRA_WEBHOOK_SECRET/);
    expect(await trailCount()).toBe(trail);
    expect(await deliveries()).toBe(seen);
    expect((await getApprovalRequest(deps.sql, requestId))?.status).toBe('pending');
  });

  it('accepts the secret in the query for a Jira that cannot sign', async () => {
    const requestId = await pendingPlan('jira', 'OPS-15');
    const body = jiraHook('OPS-15', 'Done', 'done', '10015');
    const res = await postJira(jiraConfig, body, {}, `?secret=${encodeURIComponent(SECRET)}`);
    expect(res.status).toBe(200);
    expect((await getApprovalRequest(deps.sql, requestId))?.status).toBe('cancelled');
  });

  it('ignores a move to a status that does not close the ticket, and other events', async () => {
    const requestId = await pendingPlan('jira', 'OPS-16');
    const moved = jiraHook('OPS-16', 'In Progress', 'indeterminate', '10016');
    const res = await postJira(jiraConfig, moved, { 'x-hub-signature': sign(moved) });
    expect(await res.json()).toMatchObject({ action: 'ignored' });
    const comment = JSON.stringify({ webhookEvent: 'comment_created', issue: { key: 'OPS-16' } });
    expect(
      await (await postJira(jiraConfig, comment, { 'x-hub-signature': sign(comment) })).json(),
    ).toMatchObject({
      action: 'ignored',
    });
    expect((await getApprovalRequest(deps.sql, requestId))?.status).toBe('pending');
  });

  it('answers 400 to a signed body that is not a Jira webhook, and to hostile keys without acting', async () => {
    const junk = '{"not":"jira"';
    expect((await postJira(jiraConfig, junk, { 'x-hub-signature': sign(junk) })).status).toBe(400);
    const hostile = jiraHook("OPS-1'; drop table ticket_links; --", 'Rejected', 'done', '666');
    const res = await postJira(jiraConfig, hostile, { 'x-hub-signature': sign(hostile) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ result: { cancelled: [], subjects: [] } });
    const [row] = await deps.sql<{ n: number }[]>`select count(*)::int as n from ticket_links`;
    expect(row!.n).toBeGreaterThan(0);
  });
});

function jiraEnv(): Record<string, string | undefined> {
  return {
    TICKETS_SYSTEM: 'jira',
    JIRA_URL: 'https://acme.atlassian.net',
    JIRA_EMAIL: 'warden@example.com',
    JIRA_API_TOKEN: 'token',
    JIRA_PROJECT_KEY: 'OPS',
  };
}

describe('the ServiceNow callback', () => {
  const post = (body: unknown, authorization?: string) =>
    app(snowConfig).request('/hooks/servicenow', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
    });

  it('cancels the pending approval when the change is cancelled or rejected in ServiceNow', async () => {
    const cancelled = await pendingPlan('servicenow', 'CHG0030001');
    const res = await post(
      {
        number: 'CHG0030001',
        table: 'change_request',
        state: '4',
        sys_mod_count: '7',
        updated_by: 'change.manager',
      },
      `Bearer ${TOKEN}`,
    );
    expect(res.status).toBe(200);
    expect(await getApprovalRequest(deps.sql, cancelled)).toMatchObject({
      status: 'cancelled',
      decidedReason: 'ServiceNow CHG0030001 was moved to Canceled by change.manager',
    });
    const rejected = await pendingPlan('servicenow', 'CHG0030002');
    const again = await post(
      { number: 'CHG0030002', state: -3, approval: 'rejected', sys_mod_count: 3 },
      `Bearer ${TOKEN}`,
    );
    expect(await again.json()).toMatchObject({ result: { cancelled: [rejected] } });
  });

  it('refuses a missing or wrong token with 401 and changes nothing', async () => {
    const requestId = await pendingPlan('servicenow', 'CHG0030003');
    const body = { number: 'CHG0030003', state: '4', sys_mod_count: '1' };
    const trail = await trailCount();
    for (const auth of [
      undefined,
      `Bearer ${TOKEN}x`,
      `Basic ${TOKEN}`,
      TOKEN,
      'Bearer ',
      `Bearer ${TOKEN.slice(0, -1)}`,
    ]) {
      expect((await post(body, auth)).status).toBe(401);
    }
    expect(await trailCount()).toBe(trail);
    expect((await getApprovalRequest(deps.sql, requestId))?.status).toBe('pending');
  });

  it('ignores a move that does not close the record', async () => {
    const requestId = await pendingPlan('servicenow', 'CHG0030004');
    const res = await post({ number: 'CHG0030004', state: '-2', sys_mod_count: '2' }, `Bearer ${TOKEN}`);
    expect(await res.json()).toMatchObject({ action: 'ignored' });
    expect((await getApprovalRequest(deps.sql, requestId))?.status).toBe('pending');
  });
});

describe('secret comparison', () => {
  it('compares secrets of any length and checks only the sha256 form of the signature', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(validJiraSignature(SECRET, 'body', sign('body'))).toBe(true);
    expect(validJiraSignature(SECRET, 'body', sign('body2'))).toBe(false);
    expect(validJiraSignature(SECRET, 'body', undefined)).toBe(false);
  });
});
