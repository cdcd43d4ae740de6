import type { Notification, Reply } from '../../bot/chat/model.js';
import {
  claimDigest,
  countStatesByProject,
  listExpiringGrants,
  listKeysDue,
  listNotCompliant,
  listPendingApprovals,
  listSentDigests,
  previousDigestAt,
  setDigestAuditSeq,
} from '../../storage/compliance-digest.js';
import { withTx } from '../../storage/db.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { renderTrendChart } from './chart.js';
import {
  CROSSED_LIMIT,
  chartAlt,
  type DigestData,
  meanTimeToPatchDays,
  renderDigest,
  SECTION_LIMIT,
} from './digest-render.js';
import { evaluateCompliance, loadStandards, type ProjectStandards } from './evaluate.js';
import { addDays, localMoment, minutesOf } from './local-time.js';
import { loadTrend, rollupToday } from './rollup.js';

/**
 * The daily digest per project channel: compliance now and since yesterday, servers that crossed
 * a threshold, top offenders, pending approvals, grants about to expire, keys due for rotation,
 * and a 30-day chart. The job calls `sendDueDigests` every few minutes; a project's digest goes
 * out once its local time has passed, once per local day (compliance_digests is the claim).
 */
const DAY = 86_400_000;
const TREND_DAYS = 30;
const KEYS_AHEAD_MS = 7 * DAY;

type DigestDeps = Pick<Deps, 'sql' | 'clock' | 'chatPlatforms'>;

/** Evaluates the project, refreshes today's rollup, and reads everything the digest shows. */
export async function collectDigest(deps: DigestDeps, ps: ProjectStandards, now: Date): Promise<DigestData> {
  const { project, standards } = ps;
  await evaluateCompliance(deps, { projectId: project.id });
  const day = localMoment(now, standards.digest.timezone).day;
  return withTx(deps.sql, async (tx) => {
    const [, previousAt] = await Promise.all([
      rollupToday(tx, [{ id: project.id, standards }], now),
      previousDigestAt(tx, project.id, day),
    ]);
    const previous = previousAt ?? new Date(now.getTime() - DAY);
    const [counts, trend, crossed, worst, approvals, grants, keys] = await Promise.all([
      countStatesByProject(tx, [project.id]),
      loadTrend(tx, project.id, day, TREND_DAYS),
      listNotCompliant(tx, {
        projectId: project.id,
        changedSince: previous,
        order: 'recent',
        limit: CROSSED_LIMIT,
      }),
      listNotCompliant(tx, { projectId: project.id, order: 'worst', limit: SECTION_LIMIT }),
      listPendingApprovals(tx, project.id, SECTION_LIMIT),
      listExpiringGrants(tx, {
        projectId: project.id,
        now,
        until: new Date(now.getTime() + DAY),
        limit: SECTION_LIMIT,
      }),
      listKeysDue(tx, {
        projectId: project.id,
        rotateEveryMs: standards.keyRotationMs,
        until: new Date(now.getTime() + KEYS_AHEAD_MS),
        limit: SECTION_LIMIT,
      }),
    ]);
    const yesterday = trend.rows.find((r) => r.day === addDays(day, -1)) ?? null;
    return {
      project: { id: project.id, slug: project.slug, name: project.name },
      day,
      generatedAt: now,
      counts: counts[0] ?? { servers: 0, compliant: 0, nonCompliant: 0, unknown: 0, pendingSecurity: 0 },
      yesterday,
      crossed,
      crossedSince: previous,
      offenders: worst.filter((r) => r.state === 'non-compliant'),
      approvals,
      grants,
      keys,
      trend: trend.points,
      mttpDays: meanTimeToPatchDays(trend.rows.filter((r) => r.day > addDays(day, -TREND_DAYS))),
      rollups: trend.rows,
    };
  });
}

export interface BuiltDigest {
  data: DigestData;
  /** The reply with its chart attached as `image`. */
  reply: Reply;
  png: Buffer;
}

/** The digest of one project, ready to post. */
export async function buildDigest(deps: DigestDeps, ps: ProjectStandards): Promise<BuiltDigest> {
  const now = deps.clock.now();
  const data = await collectDigest(deps, ps, now);
  const title = `${data.project.name}: compliance, last ${TREND_DAYS} days`;
  const png = await renderTrendChart(data.trend, { title });
  const reply: Reply = {
    ...renderDigest(data, ps.standards, now),
    image: { png: png.toString('base64'), alt: chartAlt(data), title },
  };
  return { data, reply, png };
}

/**
 * Posts a built digest to the project's channel through the trail. `daily` claims the local day
 * first and posts nothing when another run already did; `manual` always posts.
 */
export async function postDigest(
  deps: DigestDeps,
  built: BuiltDigest,
  options: { kind: 'daily' | 'manual'; actor: string },
): Promise<boolean> {
  const { data } = built;
  return withTx(deps.sql, async (tx) => {
    const now = deps.clock.now();
    if (options.kind === 'daily' && !(await claimDigest(tx, data.project.id, data.day, now))) return false;
    const notification: Notification = {
      kind: 'channel-post',
      projectId: data.project.id,
      reply: built.reply,
    };
    const event = await recordEvent(
      tx,
      deps,
      {
        actor: options.actor,
        action: 'compliance.digest.sent',
        subject: { type: 'project', id: data.project.slug },
        projectId: data.project.id,
        data: {
          kind: options.kind,
          day: data.day,
          servers: data.counts.servers,
          compliant: data.counts.compliant,
          nonCompliant: data.counts.nonCompliant,
          unknown: data.counts.unknown,
          pendingSecurity: data.counts.pendingSecurity,
          crossed: data.crossed.map((r) => r.serverName),
        },
      },
      [notification],
    );
    if (options.kind === 'daily') await setDigestAuditSeq(tx, data.project.id, data.day, event.seq);
    return true;
  });
}

export interface DueDigestsResult {
  sent: string[];
  failed: { project: string; error: string }[];
}

/**
 * Sends each project's daily digest whose local time has passed today and that was not sent yet.
 * Safe to run as often as wanted, on several replicas at once.
 */
export async function sendDueDigests(
  deps: Pick<Deps, 'sql' | 'clock' | 'chatPlatforms' | 'log'>,
): Promise<DueDigestsResult> {
  const now = deps.clock.now();
  const { byProject } = await loadStandards(deps.sql, now);
  const due: (ProjectStandards & { day: string })[] = [];
  for (const ps of byProject.values()) {
    const schedule = ps.standards.digest;
    if (!schedule.enabled) continue;
    const local = localMoment(now, schedule.timezone);
    if (local.minutes >= minutesOf(schedule.time)) due.push({ ...ps, day: local.day });
  }
  const sentAlready = await listSentDigests(
    deps.sql,
    due.map((d) => ({ projectId: d.project.id, day: d.day })),
  );
  const result: DueDigestsResult = { sent: [], failed: [] };
  for (const ps of due) {
    if (sentAlready.has(`${ps.project.id}:${ps.day}`)) continue;
    try {
      const built = await buildDigest(deps, ps);
      if (await postDigest(deps, built, { kind: 'daily', actor: 'job:compliance-digest' })) {
        result.sent.push(ps.project.slug);
      }
    } catch (error) {
      // One project's failure must not hold back the others; the next run tries it again.
      const message = error instanceof Error ? error.message : String(error);
      deps.log.error({ err: error, project: ps.project.slug }, 'compliance digest failed');
      result.failed.push({ project: ps.project.slug, error: message });
    }
  }
  return result;
}
