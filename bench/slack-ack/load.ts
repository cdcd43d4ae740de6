import { createHmac } from 'node:crypto';
import http from 'node:http';

/**
 * The open-loop load generator, run in its own process so it never shares an event loop with
 * the server it measures. Request i is due at t0 + i/rate whatever happened before it, and its
 * latency is counted from that due time, not from when it was actually sent: a stalled server
 * cannot hide its stall by slowing the generator down (no coordinated omission).
 */
export interface LoadJob {
  url: string;
  rate: number;
  signingSecret: string;
  /** Raw bodies, form-encoded, sent in order; their count and the rate set the duration. */
  bodies: string[];
}

export interface LoadResult {
  /** Per request: ms from its due time to the end of the response; -1 when it failed. */
  latencies: number[];
  statuses: number[];
  errors: number;
  /** How late, at worst, the generator itself sent a request (ms): its own health. */
  maxSendLagMs: number;
  elapsedMs: number;
}

function sign(secret: string, body: string, ts: number): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
}

export function runLoad(job: LoadJob): Promise<LoadResult> {
  const target = new URL(job.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const n = job.bodies.length;
  const interval = 1000 / job.rate;
  const latencies = new Array<number>(n).fill(-1);
  const statuses = new Array<number>(n).fill(0);
  let errors = 0;
  let finished = 0;
  let next = 0;
  let maxSendLagMs = 0;
  const t0 = performance.now() + 20;

  return new Promise((resolve) => {
    const finish = (i: number, status: number) => {
      statuses[i] = status;
      if (status === 200) latencies[i] = performance.now() - (t0 + i * interval);
      else errors++;
      finished++;
      if (finished === n) {
        agent.destroy();
        resolve({ latencies, statuses, errors, maxSendLagMs, elapsedMs: performance.now() - t0 });
      }
    };
    const fire = (i: number) => {
      const body = job.bodies[i]!;
      const ts = Math.floor(Date.now() / 1000);
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
            'x-slack-request-timestamp': String(ts),
            'x-slack-signature': sign(job.signingSecret, body, ts),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => finish(i, res.statusCode ?? 0));
        },
      );
      req.on('error', () => finish(i, 0));
      req.end(body);
    };
    const pump = () => {
      const now = performance.now();
      while (next < n && t0 + next * interval <= now) {
        maxSendLagMs = Math.max(maxSendLagMs, now - (t0 + next * interval));
        fire(next++);
      }
      if (next < n) setTimeout(pump, Math.max(0, Math.min(1, t0 + next * interval - performance.now())));
    };
    setTimeout(pump, Math.max(0, t0 - performance.now()));
  });
}

// Run as a child process: jobs in over IPC (a warm-up, then the measured run), results out.
if (process.send) {
  process.on('message', (job: LoadJob) => {
    void runLoad(job).then((result) => process.send!(result));
  });
  process.on('disconnect', () => process.exit(0));
}
