import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChatDeliverer } from '../../bot/chat/deliver.js';
import type { Reply } from '../../bot/chat/model.js';
import type { ChatPlatform } from '../../bot/chat/platform.js';
import { CHANNEL, type SlackWorld, startSlackWorld } from '../../bot/slack/testing.js';
import { useTestDatabase } from '../../test/db.js';
import { pngSize } from './chart.js';
import { buildDigest, postDigest } from './digest.js';
import { loadStandards } from './evaluate.js';
import { ago, DAY, NOW, scanAt, securityFindings } from './testing.js';

const db = useTestDatabase('compliance-delivery');
let world: SlackWorld;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

beforeAll(async () => {
  world = await startSlackWorld(db.current.sql);
  world.deps.clock.set(NOW);
  const sql = db.current.sql;
  for (const [name, findings] of [
    ['slack-web-1', 0],
    ['slack-web-2', 2],
  ] as const) {
    const [row] = await sql<{ id: number }[]>`
      insert into servers (name, project_id, created_at) values (${name}, ${world.projectId}, ${ago(30 * DAY)})
      returning id`;
    await scanAt(world.deps, row!.id, ago(DAY), securityFindings(findings));
  }
  world.deps.clock.set(NOW);
});

afterAll(async () => {
  try {
    world.slack.verify();
  } finally {
    await world.stop();
  }
});

async function postTheDigest(): Promise<void> {
  const { byProject } = await loadStandards(world.deps.sql, NOW, [world.projectId]);
  const built = await buildDigest(world.deps, byProject.get(world.projectId)!);
  expect(await postDigest(world.deps, built, { kind: 'daily', actor: 'job:compliance-digest' })).toBe(true);
  expect(await postDigest(world.deps, built, { kind: 'daily', actor: 'job:compliance-digest' })).toBe(false);
}

describe('the digest on Slack', () => {
  it('posts the digest, then uploads its chart through files.uploadV2', async () => {
    await postTheDigest();
    // The Slack adapter's own deliverer and platform: the text goes by chat.postMessage, the chart
    // by the platform's uploadImage (files.uploadV2), top level in the same channel.
    expect(await world.worker.drainOnce()).toMatchObject({ delivered: 1, failed: 0, dead: 0 });

    const posted = world.slack.callsTo('chat.postMessage');
    expect(posted).toHaveLength(1);
    expect(JSON.stringify(posted[0]!.args.blocks)).toContain(
      '100% compliant: 2 of 2 servers (no figure for yesterday yet). 0 non-compliant, 0 unknown (stale or never scanned), 2 security updates pending.',
    );
    expect(world.slack.callsTo('files.getUploadURLExternal')).toHaveLength(1);
    expect(world.slack.callsTo('files.completeUploadExternal')).toHaveLength(1);
    const [file] = [...world.slack.state.files.values()];
    expect(file).toMatchObject({ completed: true, title: 'Demo: compliance, last 30 days' });
    expect(file!.data!.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(pngSize(file!.data!)).toEqual({ width: 900, height: 420 });
    expect(world.slack.callsTo('files.getUploadURLExternal')[0]!.args.alt_text).toMatch(/\S/);
    // Top level, right under the text (not hidden in its thread).
    expect(world.slack.messages(CHANNEL).map((m) => [m.files ?? [], m.threadTs])).toEqual([
      [[], undefined],
      [[file!.id], undefined],
    ]);
  });
});

describe('a platform without uploadImage', () => {
  it('receives the chart on the reply itself, for inline rendering', async () => {
    const posts: Reply[] = [];
    const inline: ChatPlatform = {
      name: 'teams',
      async post(_channel, reply) {
        posts.push(reply);
        return { messageId: `m${posts.length}` };
      },
      async update() {
        throw new Error('not expected');
      },
      async replyInThread() {
        throw new Error('not expected');
      },
      async direct() {
        throw new Error('not expected');
      },
      channelFor: () => 'team-channel',
    };
    const deliver = createChatDeliverer({ sql: db.current.sql, platform: inline, clock: world.deps.clock });
    const png = Buffer.concat([PNG_SIGNATURE, Buffer.alloc(16)]).toString('base64');
    await deliver.deliver({
      id: 1,
      channel: 'teams',
      kind: 'channel-post',
      payload: {
        kind: 'channel-post',
        projectId: world.projectId,
        reply: { visibility: 'public', text: 'digest', image: { png, alt: 'a chart', title: 'Chart' } },
      },
      idempotencyKey: 'inline-1',
      orderingKey: null,
      attempts: 0,
    } as never);
    expect(posts).toEqual([
      { visibility: 'public', text: 'digest', image: { png, alt: 'a chart', title: 'Chart' } },
    ]);
  });
});
