import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOutboxWorker } from '../../jobs/outbox-worker.js';
import { silentLogger } from '../../lib/logger.js';
import { getOutboxItem } from '../../storage/outbox.js';
import { addIdentity } from '../../storage/users.js';
import { useTestDatabase } from '../../test/db.js';
import type { Notification } from '../chat/model.js';
import { CHANNEL, nextId, type SlackWorld, startSlackWorld } from './testing.js';

const db = useTestDatabase('slack-platform');
let world: SlackWorld;

afterEach(async () => {
  try {
    world.slack.verify();
  } finally {
    await world.stop();
  }
});

async function enqueue(notification: Notification): Promise<number> {
  const [row] = await db.current.sql<{ id: number }[]>`
    insert into outbox (channel, kind, payload, idempotency_key, next_attempt_at, created_at)
    values ('slack', ${notification.kind}, ${db.current.sql.json(notification as never)}, ${nextId('key-')},
            ${world.deps.clock.now()}, ${world.deps.clock.now()})
    returning id`;
  return row!.id;
}

function channelPost(text: string): Notification {
  return { kind: 'channel-post', projectId: world.projectId, reply: { visibility: 'public', text } };
}

describe('Slack as a chat platform for the outbox', () => {
  beforeEach(async () => {
    world = await startSlackWorld(db.current.sql);
  });

  it('retries a rate-limited post only after Slack’s Retry-After', async () => {
    world.slack.rateLimitNext('chat.postMessage', { retryAfterSeconds: 7 });
    const id = await enqueue(channelPost('digest'));
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 0, failed: 1 });
    const failed = await getOutboxItem(db.current.sql, id);
    expect(failed?.lastError).toMatch(
      /Slack rate-limited posting to C0APPROVE; it will be retried after 7 s/,
    );
    expect(failed!.nextAttemptAt.getTime() - world.deps.clock.now().getTime()).toBe(7_000);

    world.deps.clock.advance(6_000);
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 0, failed: 0 });
    expect(world.slack.callsTo('chat.postMessage')).toHaveLength(1);
    world.deps.clock.advance(1_000);
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 1 });
    expect(world.slack.messages(CHANNEL).map((m) => m.text)).toEqual(['digest']);
    expect((await getOutboxItem(db.current.sql, id))?.status).toBe('delivered');
  });

  it('posts once when an outbox item is delivered twice', async () => {
    const posted = await world.slackApp.platform.post(
      CHANNEL,
      { visibility: 'public', text: 'once' },
      { idempotencyKey: 'same' },
    );
    const again = await world.slackApp.platform.post(
      CHANNEL,
      { visibility: 'public', text: 'once' },
      { idempotencyKey: 'same' },
    );
    expect(again).toEqual(posted);
    expect(world.slack.messages(CHANNEL)).toHaveLength(1);
  });

  it('sends a direct message to the Slack identity of a Warden user', async () => {
    await addIdentity(db.current.sql, {
      userId: world.users.carol,
      platform: 'slack',
      externalId: world.ids.carol,
      verified: true,
    });
    await enqueue({
      kind: 'direct',
      userId: world.users.carol,
      reply: { visibility: 'private', text: 'your access expires soon' },
    });
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 1 });
    expect(world.slack.messages(world.ids.carol).map((m) => m.text)).toEqual(['your access expires soon']);
    // Someone who never used Slack gets nothing here, and the item is not retried.
    await enqueue({ kind: 'direct', userId: world.users.alice, reply: { visibility: 'private', text: 'x' } });
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 1 });
  });

  it('uploads a PNG chart into a thread with files.uploadV2', async () => {
    const parent = await world.slackApp.platform.post(
      CHANNEL,
      { visibility: 'public', text: 'digest' },
      { idempotencyKey: 'd' },
    );
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const { fileId } = await world.slackApp.platform.uploadPng(CHANNEL, png, 'Patch coverage, 30 days', {
      threadTs: parent.messageId,
      comment: 'trend',
    });
    expect(world.slack.calls.map((c) => c.method).slice(-2)).toEqual([
      'files.getUploadURLExternal',
      'files.completeUploadExternal',
    ]);
    const file = [...world.slack.state.files.values()][0]!;
    expect(file).toMatchObject({ id: fileId, filename: 'patch-coverage-30-days.png', completed: true });
    expect(file.data?.equals(png)).toBe(true);
    expect(world.slack.thread(CHANNEL, parent.messageId).map((m) => m.files)).toEqual([[fileId]]);
  });

  it('turns /readyz false when Slack revokes the token, and says so in the outbox error', async () => {
    expect((await world.app.request('/readyz')).status).toBe(200);
    world.slack.revokeToken();
    const id = await enqueue(channelPost('after revoke'));
    await world.worker.drainOnce();
    expect((await getOutboxItem(db.current.sql, id))?.lastError).toMatch(
      /Slack refused posting to C0APPROVE \(token_revoked\): .*reinstall the Slack app and set SLACK_BOT_TOKEN/,
    );
    const ready = await world.app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ failed: ['slack'] });
  });
});

const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from('chart bytes')]);

function digestWithChart(): Notification {
  return {
    kind: 'channel-post',
    projectId: world.projectId,
    reply: {
      visibility: 'public',
      text: 'compliance digest',
      image: { png: PNG.toString('base64'), title: 'Compliance, 30 days', alt: 'compliance rose to 96%' },
    },
  };
}

/** The one file the fake holds, with what reached the channel. */
function uploadedFiles() {
  return [...world.slack.state.files.values()].filter((f) => f.completed);
}

describe('digest charts through the outbox', () => {
  beforeEach(async () => {
    world = await startSlackWorld(db.current.sql);
  });

  it('uploads the chart once when the delivery is retried after a failure between the upload and marking the item done', async () => {
    world.slack.expectCall('chat.postMessage', { times: 1 });
    world.slack.expectCall('files.getUploadURLExternal', { times: 1 });
    world.slack.expectCall('files.completeUploadExternal', { times: 1 });
    // Everything reaches Slack, then the delivery fails before the worker can mark the item
    // delivered (a lost database connection, a killed process): the item is retried as a whole.
    let failures = 0;
    const worker = createOutboxWorker({
      sql: db.current.sql,
      clock: world.deps.clock,
      log: silentLogger(),
      backoff: () => 1_000,
      deliverers: {
        slack: {
          async deliver(item) {
            const result = await world.slackApp.deliverer.deliver(item);
            if (failures++ === 0) throw new Error('connection lost before the item was marked delivered');
            return result;
          },
        },
      },
    });
    const id = await enqueue(digestWithChart());
    expect(await worker.drainOnce()).toMatchObject({ delivered: 0, failed: 1 });
    expect((await getOutboxItem(db.current.sql, id))?.status).toBe('pending');
    world.deps.clock.advance(1_000);
    expect(await worker.drainOnce()).toMatchObject({ delivered: 1, failed: 0 });
    await worker.stop();

    expect(world.slack.callsTo('chat.postMessage')).toHaveLength(1);
    expect(world.slack.callsTo('files.getUploadURLExternal')).toHaveLength(1);
    expect(world.slack.callsTo('files.completeUploadExternal')).toHaveLength(1);
    const [file] = uploadedFiles();
    expect(file?.data?.equals(PNG)).toBe(true);
    expect(world.slack.messages(CHANNEL).map((m) => [m.text, m.files])).toEqual([
      ['compliance digest', undefined],
      ['', [file!.id]],
    ]);
    const delivered = await getOutboxItem(db.current.sql, id);
    expect(delivered?.result).toMatchObject({ image: file!.id });
  });

  it('shares the chart once, and posts the text once, when Slack fails to complete the upload', async () => {
    world.slack.failNext('files.completeUploadExternal', { error: 'internal_error' });
    const id = await enqueue(digestWithChart());
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 0, failed: 1 });
    expect((await getOutboxItem(db.current.sql, id))?.lastError).toMatch(
      /Slack refused uploading Compliance, 30 days to C0APPROVE \(internal_error\)/,
    );
    world.deps.clock.advance(1_000);
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 1 });
    expect(world.slack.callsTo('chat.postMessage')).toHaveLength(1);
    // The first file never completed, so Slack never shows it; the retry shares a new one.
    expect(uploadedFiles()).toHaveLength(1);
    expect(world.slack.messages(CHANNEL).filter((m) => m.files?.length)).toHaveLength(1);
  });

  it('retries a rate-limited upload only after Slack’s Retry-After, without posting the text again', async () => {
    world.slack.rateLimitNext('files.getUploadURLExternal', { retryAfterSeconds: 9 });
    const id = await enqueue(digestWithChart());
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 0, failed: 1 });
    const failed = await getOutboxItem(db.current.sql, id);
    expect(failed?.lastError).toMatch(
      /Slack rate-limited uploading Compliance, 30 days to C0APPROVE; it will be retried after 9 s/,
    );
    expect(failed!.nextAttemptAt.getTime() - world.deps.clock.now().getTime()).toBe(9_000);

    world.deps.clock.advance(8_000);
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 0, failed: 0 });
    expect(world.slack.callsTo('files.getUploadURLExternal')).toHaveLength(1);
    world.deps.clock.advance(1_000);
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 1 });
    expect(world.slack.callsTo('files.getUploadURLExternal')).toHaveLength(2);
    expect(world.slack.callsTo('chat.postMessage')).toHaveLength(1);
    expect(uploadedFiles()).toHaveLength(1);
    expect((await getOutboxItem(db.current.sql, id))?.status).toBe('delivered');
  });
});

describe('Slack channel problems', () => {
  beforeEach(async () => {
    world = await startSlackWorld(db.current.sql, { channelMember: false });
  });

  it('explains not_in_channel and keeps the item for a retry after the bot is invited', async () => {
    const id = await enqueue(channelPost('alert'));
    await world.worker.drainOnce();
    const item = await getOutboxItem(db.current.sql, id);
    expect(item?.status).toBe('pending');
    expect(item?.lastError).toMatch(
      /Warden is not a member of channel C0APPROVE: invite it there \(\/invite @Warden\)/,
    );
    world.slack.state.channels.get(CHANNEL)!.isMember = true;
    world.deps.clock.advance(1_000);
    await world.worker.drainOnce();
    expect((await getOutboxItem(db.current.sql, id))?.status).toBe('delivered');
    expect((await world.app.request('/readyz')).status).toBe(200);
  });

  it('explains channel_not_found with how to fix the project', async () => {
    await db.current
      .sql`update projects set channels = ${db.current.sql.json({ slack: 'C0GONE' })} where id = ${world.projectId}`;
    const id = await enqueue(channelPost('alert'));
    await world.worker.drainOnce();
    expect((await getOutboxItem(db.current.sql, id))?.lastError).toMatch(
      /channel C0GONE does not exist or Warden cannot see it .*check the project's Slack channel id/,
    );
  });
});
