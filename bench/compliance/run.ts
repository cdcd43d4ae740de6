/**
 * Compliance benchmark: evaluating a 10,000-server fleet (500,000 open findings, 90 days of
 * history) plus building one 200-server project digest, in real PostgreSQL.
 *
 *   npx tsx bench/compliance/run.ts
 *   DATABASE_URL=postgres://… RUNS=20 KEEP=1 npx tsx bench/compliance/run.ts
 *
 * It creates a fresh schema, applies the migrations, generates the fleet with generate_series,
 * then measures RUNS rounds of database time (see meter.ts), prints p50/p95 and the EXPLAIN
 * (ANALYZE, BUFFERS) of the main query, and, last, one line:
 *   compliance servers=… findings=… db_ms=<p95 of evaluation + digest>
 */
import { randomBytes } from 'node:crypto';
import { renderTrendChart } from '../../commands/compliance/chart.js';
import { collectDigest } from '../../commands/compliance/digest.js';
import { evaluateCompliance, loadStandards, rotationOf } from '../../commands/compliance/evaluate.js';
import { systemClock } from '../../lib/clock.js';
import { explainComplianceFacts } from '../../storage/compliance.js';
import { connect, type Sql, targetFromUrl, withTx } from '../../storage/db.js';
import { migrate } from '../../storage/migrate.js';
import { DEFAULT_SIZE, generateFleet } from './generate.js';
import { meterSql } from './meter.js';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = Number(process.env.RUNS ?? 20);
/** Servers whose scan result changes between two runs. */
const CHURN = Number(process.env.CHURN ?? 20);
const schema = `bench_compliance_${randomBytes(3).toString('hex')}`;

/**
 * Between two runs (5 minutes apart) scans land: a 10,000-server fleet scanned weekly sees about
 * 5 per run; write CHURN (20), each with one more security update, so every run has real work.
 */
async function newScanResults(sql: Sql): Promise<void> {
  await sql`
    update server_scan_state set last_good_scan_id = last_good_scan_id + 100000, last_good_scan_at = now(),
      last_scan_at = now(), open_total = open_total + 1, open_security = open_security + 1,
      oldest_open_security_first_seen_at = coalesce(oldest_open_security_first_seen_at, now()), updated_at = now()
    where server_id in (select server_id from server_scan_state order by random() limit ${CHURN})`;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const ms = (n: number) => n.toFixed(1);

async function main(): Promise<void> {
  const target = targetFromUrl(url, schema);
  const admin = connect(targetFromUrl(url), { max: 1 });
  console.log(`schema ${schema} on ${target.host}:${target.port}/${target.database}`);
  let t = performance.now();
  await migrate(target);
  const raw = connect(target, { max: 10 });
  try {
    const now = systemClock.now();
    await generateFleet(raw, DEFAULT_SIZE, now);
    const [counts] = await raw<{ servers: number; findings: number; resolved: number; rollups: number }[]>`
      select (select count(*) from servers)::int as servers, (select count(*) from findings_open)::int as findings,
             (select count(*) from findings_resolved)::int as resolved,
             (select count(*) from compliance_daily)::int as rollups`;
    console.log(
      `generated in ${ms((performance.now() - t) / 1000)} s: ${counts!.servers} servers, ${counts!.findings} open findings, ` +
        `${counts!.resolved} resolved findings, ${counts!.rollups} daily rollups`,
    );

    const meter = meterSql(raw);
    const deps = { sql: meter.sql, clock: systemClock, chatPlatforms: ['console'] as const };
    const [digestProject] = await raw<{ id: number }[]>`select id from projects order by id limit 1`;
    const { byProject } = await loadStandards(raw, now, [digestProject!.id]);
    const ps = byProject.get(digestProject!.id)!;

    // The first evaluation writes a state row for every server; later ones write only changes.
    meter.reset();
    t = performance.now();
    const first = await evaluateCompliance(deps);
    const states = await raw<{ state: string; n: number }[]>`
      select state, count(*)::int as n from server_compliance_state group by state order by state`;
    console.log(
      `first evaluation (writes ${first.changed} rows): db ${ms(meter.elapsedMs())} ms, wall ${ms(performance.now() - t)} ms; ` +
        states.map((s) => `${s.state} ${s.n}`).join(', '),
    );

    // Steady state: autovacuum would have analyzed the tables the first evaluation filled/emptied.
    await raw`vacuum analyze compliance_dirty, server_compliance_state`;

    const total: number[] = [];
    const evaluation: number[] = [];
    const digest: number[] = [];
    const wall: number[] = [];
    let queries = 0;
    let lastDigest: Awaited<ReturnType<typeof collectDigest>> | undefined;
    for (let i = 0; i < RUNS; i++) {
      await newScanResults(raw);
      meter.reset();
      const start = performance.now();
      await evaluateCompliance(deps);
      const afterEval = meter.elapsedMs();
      lastDigest = await collectDigest(deps, ps, systemClock.now());
      wall.push(performance.now() - start);
      evaluation.push(afterEval);
      digest.push(meter.elapsedMs() - afterEval);
      total.push(meter.elapsedMs());
      queries = meter.queries();
    }
    t = performance.now();
    const png = await renderTrendChart(lastDigest!.trend, { title: 'bench' });
    const chartMs = performance.now() - t;

    console.log(
      `\n${RUNS} runs, ${CHURN} new scan results before each (database time, ms; ${queries} queries per run):`,
    );
    console.log(
      `  fleet evaluation      p50 ${ms(percentile(evaluation, 50))}  p95 ${ms(percentile(evaluation, 95))}`,
    );
    console.log(
      `  200-server digest     p50 ${ms(percentile(digest, 50))}  p95 ${ms(percentile(digest, 95))}`,
    );
    console.log(`  both                  p50 ${ms(percentile(total, 50))}  p95 ${ms(percentile(total, 95))}`);
    console.log(
      `  both, wall clock      p50 ${ms(percentile(wall, 50))}  p95 ${ms(percentile(wall, 95))} (includes the rules in JS)`,
    );
    console.log(`  chart PNG render      ${ms(chartMs)} ms (${png.length} bytes, not database time)`);
    console.log(
      `  digest of ${ps.project.slug}: ${lastDigest!.counts.compliant}/${lastDigest!.counts.servers} compliant, ` +
        `${lastDigest!.counts.pendingSecurity} security pending, ${lastDigest!.trend.length} trend days`,
    );

    const all = await loadStandards(raw, now);
    const rotation = rotationOf(all.byProject, all.fallback);
    await newScanResults(raw);
    const plan = await withTx(raw, async (tx) => {
      await tx`set local jit = off`;
      return explainComplianceFacts(tx, { now: systemClock.now(), rotation });
    });
    console.log(`\nEXPLAIN (ANALYZE, BUFFERS) of the main query (fleet facts, ${CHURN} servers changed):`);
    for (const line of plan) console.log(`  ${line}`);
    console.log(
      `\ncompliance servers=${counts!.servers} findings=${counts!.findings} db_ms=${ms(percentile(total, 95))}`,
    );
  } finally {
    await raw.end({ timeout: 5 });
    if (!process.env.KEEP) await admin.unsafe(`drop schema if exists "${schema}" cascade`);
    else console.error(`kept schema ${schema}`);
    await admin.end({ timeout: 5 });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
