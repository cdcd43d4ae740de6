import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutboxWorker, exponentialBackoff } from '../../jobs/outbox-worker.js';
import { silentLogger } from '../../lib/logger.js';
import { withTx } from '../../storage/db.js';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../test/fakes/webhook-receiver.js';
import { createActor, createProjectRow, uniqueHandle } from '../approvals/testing.js';
import { recordEvent } from '../audit/trail.js';
import type { Actor } from '../rbac/authorize.js';
import { createWebhookDeliverer } from './deliver.js';
import { signWebhook, verifyWebhookSignature } from './signature.js';
import {
  createWebhook,
  deleteWebhook,
  listWebhookDeliveries,
  listWebhooks,
  updateWebhook,
} from './subscriptions.js';

const db = useTestDatabase('webhooks');

describe('outgoing webhooks', () => {
  let deps: TestDeps;
  let admin: Actor;
  let operator: Actor;
  let project: { id: number; slug: string };
  let other: { id: number; slug: string };
  let receiver: WebhookReceiver;
  const secret = 'whsec_test_0123456789abcdefghijklmnop';

  beforeAll(async () => {
    deps = createTestDeps(db.current.sql);
    project = await createProjectRow(db.current.sql, uniqueHandle('hooks'));
    other = await createProjectRow(db.current.sql, uniqueHandle('other'));
    admin = await createActor(db.current.sql, uniqueHandle('root'), [['admin', null]]);
    operator = await createActor(db.current.sql, uniqueHandle('op'), [['operator', project.id]]);
    receiver = await startWebhookReceiver({ secret, now: () => deps.clock.now() });
  });
  afterAll(async () => {
    await receiver?.close();
  });

  async function emit(action: string, projectId: number | null): Promise<number> {
    const event = await withTx(deps.sql, (tx) =>
      recordEvent(tx, deps, { actor: 'system', action, projectId, data: { note: 'ünïcödé "quoted"' } }),
    );
    return event.seq;
  }

  async function webhookRows(seq: number) {
    return deps.sql<{ id: number; payload: { subscriptionId: number } }[]>`
      select id, payload from outbox where channel = 'webhook' and audit_seq = ${seq} order by id`;
  }

  it('writes no webhook outbox rows while nobody subscribes', async () => {
    const seq = await emit('approval.requested', project.id);
    expect(await webhookRows(seq)).toEqual([]);
  });

  it('refuses a subscription to someone without webhooks:manage, saying what is missing', async () => {
    await expect(
      createWebhook(deps, operator, { project: project.slug, url: receiver.url, events: ['*'] }),
    ).rejects.toMatchObject({ code: 'forbidden', message: expect.stringContaining('webhooks:manage') });
    await expect(listWebhooks(deps, operator)).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('refuses URLs that carry credentials or are not http(s), and event globs with other characters', async () => {
    const { WebhookCreate } = await import('./subscriptions.js');
    expect(WebhookCreate.safeParse({ project: null, url: 'ftp://x.example/', events: ['*'] }).success).toBe(
      false,
    );
    expect(
      WebhookCreate.safeParse({ project: null, url: 'https://u:p@x.example/', events: ['*'] }).success,
    ).toBe(false);
    expect(
      WebhookCreate.safeParse({ project: null, url: 'https://x.example/', events: ["a'; drop"] }).success,
    ).toBe(false);
    expect(
      WebhookCreate.safeParse({ project: null, url: 'https://x.example/', events: ['approval_%'] }).success,
    ).toBe(false);
  });

  it('queues an event for the subscriptions of its project whose globs match, in the same transaction', async () => {
    const created = await createWebhook(deps, admin, {
      project: project.slug,
      url: receiver.url,
      events: ['approval.*', 'script-run.finished'],
    });
    expect(created.secret).toMatch(/^whsec_/);
    const quiet = await createWebhook(deps, admin, { project: other.slug, url: receiver.url, events: ['*'] });
    const matched = await emit('approval.requested', project.id);
    expect((await webhookRows(matched)).map((r) => r.payload.subscriptionId)).toEqual([
      created.subscription.id,
    ]);
    expect(await webhookRows(await emit('approvals.requested', project.id))).toEqual([]);
    expect(await webhookRows(await emit('scan.finished', project.id))).toEqual([]);
    expect(
      (await webhookRows(await emit('scan.finished', other.id))).map((r) => r.payload.subscriptionId),
    ).toEqual([quiet.subscription.id]);
    await deleteWebhook(deps, admin, quiet.subscription.id);
    await updateWebhook(deps, admin, created.subscription.id, { active: false });
    expect(await webhookRows(await emit('approval.denied', project.id))).toEqual([]);
    await deleteWebhook(deps, admin, created.subscription.id);
    // clear what these checks queued, so the delivery test below sends exactly its own item
    await deps.sql`update outbox set status = 'dead' where channel = 'webhook' and status = 'pending'`;
  });

  it('delivers exactly once, signed, to a receiver that fails twice and then succeeds, retrying with backoff', async () => {
    const { subscription } = await createWebhook(deps, admin, {
      project: project.slug,
      url: receiver.url,
      events: ['approval.*'],
      secret,
    });
    const seq = await emit('approval.approved', project.id);
    const [row] = await webhookRows(seq);
    expect(row).toBeDefined();
    receiver.failNext(2, 503, { 'retry-after': '30' });
    const worker = createOutboxWorker({
      sql: deps.sql,
      clock: deps.clock,
      log: silentLogger(),
      deliverers: {
        webhook: createWebhookDeliverer({ sql: deps.sql, vault: deps.vault, clock: deps.clock }),
      },
      backoff: exponentialBackoff({ baseMs: 10_000, random: () => 1 }),
    });
    expect(await worker.drainOnce()).toEqual({ delivered: 0, failed: 1, dead: 0 });
    // not due yet: Retry-After (30 s) beats the 10 s backoff
    deps.clock.advance(20_000);
    expect(await worker.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    deps.clock.advance(11_000);
    expect(await worker.drainOnce()).toEqual({ delivered: 0, failed: 1, dead: 0 });
    deps.clock.advance(31_000);
    expect(await worker.drainOnce()).toEqual({ delivered: 1, failed: 0, dead: 0 });
    deps.clock.advance(3_600_000);
    expect(await worker.drainOnce()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    await worker.stop();

    expect(receiver.problems).toEqual([]);
    expect(receiver.requests.map((r) => r.status)).toEqual([503, 503, 204]);
    expect(new Set(receiver.requests.map((r) => r.deliveryId)).size).toBe(1);
    expect(receiver.accepted).toHaveLength(1);
    const [got] = receiver.accepted;
    expect(got!.event).toBe('approval.approved');
    expect(got!.body).toMatchObject({
      seq,
      type: 'approval.approved',
      projectId: project.id,
      data: { note: 'ünïcödé "quoted"' },
    });
    expect(got!.signature).toMatch(/^t=[0-9]+,v1=[0-9a-f]{64}$/);

    const [outbox] = await deps.sql<
      { status: string; attempts: number }[]
    >`select status, attempts from outbox where id = ${row!.id}`;
    expect(outbox).toEqual({ status: 'delivered', attempts: 3 });
    const log = await listWebhookDeliveries(deps, admin, subscription.id, { limit: 10 });
    expect(log.map((d) => [d.attempt, d.outcome, d.httpStatus])).toEqual([
      [3, 'delivered', 204],
      [2, 'failed', 503],
      [1, 'failed', 503],
    ]);
  });

  it('verifies a signature only for the exact body, secret and a timestamp within five minutes', () => {
    const now = new Date('2026-01-05T09:00:00Z');
    const t = Math.floor(now.getTime() / 1000);
    const body = '{"id":"audit:1:x0:webhook","type":"x"}';
    const header = signWebhook('s3cret-s3cret-s3cret-s3cret', t, body);
    expect(verifyWebhookSignature(header, body, 's3cret-s3cret-s3cret-s3cret', { now })).toEqual({
      ok: true,
      timestamp: t,
    });
    expect(verifyWebhookSignature(header, `${body} `, 's3cret-s3cret-s3cret-s3cret', { now }).ok).toBe(false);
    expect(verifyWebhookSignature(header, body, 'another-secret-another-secret', { now }).ok).toBe(false);
    const later = new Date(now.getTime() + 301_000);
    expect(verifyWebhookSignature(header, body, 's3cret-s3cret-s3cret-s3cret', { now: later })).toMatchObject(
      { ok: false, reason: expect.stringContaining('tolerance') },
    );
    expect(verifyWebhookSignature(undefined, body, 'x', { now }).ok).toBe(false);
    expect(verifyWebhookSignature('t=abc,v1=zz', body, 'x', { now }).ok).toBe(false);
  });
});
