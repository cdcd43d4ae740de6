import { startFakeSlack } from '../../test/fakes/slack.js';
import { channelMessages } from '../../test/fakes/slack-state.js';

/**
 * The Slack fake in its own process, so its work (chat.update, thread replies) does not run on
 * the event loop of the server being measured. Driven over IPC by run.ts.
 */
export type FakeRequest =
  | { type: 'seed'; channel: string; count: number }
  | { type: 'responseUrls'; channel: string; messages: string[]; prefix?: string }
  | { type: 'stats' }
  | { type: 'stop' };

interface Options {
  signingSecret: string;
  channel: string;
  approvers: { id: string; name: string; email: string }[];
}

if (process.send) {
  process.once('message', async (options: Options) => {
    const slack = await startFakeSlack({
      signingSecret: options.signingSecret,
      channels: [{ id: options.channel, name: 'bench-approvals' }],
      users: options.approvers,
    });
    process.on('message', async (request: FakeRequest) => {
      switch (request.type) {
        case 'seed': {
          // The approval messages the clicks come from, as if Warden had posted them.
          const list = channelMessages(slack.state, request.channel);
          const ts: string[] = [];
          for (let i = 0; i < request.count; i++) {
            const message = {
              ts: slack.state.nextTs(),
              channel: request.channel,
              text: 'approval',
              user: slack.state.botUserId,
              edits: 0,
            };
            list.push(message);
            ts.push(message.ts);
          }
          process.send!({ type: 'seeded', ts });
          return;
        }
        case 'responseUrls': {
          const urls = request.messages.map((ts, i) =>
            slack.responseUrl(`${request.prefix ?? 'bench'}-${i}-${ts}`, { channel: request.channel, ts }),
          );
          process.send!({ type: 'responseUrls', urls });
          return;
        }
        case 'stats': {
          const byMethod: Record<string, number> = {};
          for (const call of slack.calls) byMethod[call.method] = (byMethod[call.method] ?? 0) + 1;
          const problems = slack.takeProblems();
          process.send!({
            type: 'stats',
            byMethod,
            unexpected: problems.unexpected.length,
            violations: problems.violations.map((v) => v.kind),
          });
          return;
        }
        case 'stop':
          await slack.stop();
          process.exit(0);
      }
    });
    process.send!({ type: 'ready', url: slack.url });
  });
}
