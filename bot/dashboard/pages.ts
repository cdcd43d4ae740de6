import type { OverviewView, ProjectView, ServerLine, ServerView } from '../../commands/reports/dashboard.js';
import type { BaselineStateWithServer } from '../../storage/baselines.js';
import type { BreakdownRow, ConversationRow } from '../../storage/reports.js';
import { type Html, html, type Safe, safeHref, trusted } from './html.js';

/**
 * The dashboard's pages: plain server-rendered HTML, one inline stylesheet carrying the CSP
 * nonce, no script at all. Every value goes through `html`, which escapes it.
 */
const STYLE = `
:root { --fg:#1d1c1d; --muted:#616061; --line:#e2e2e2; --ok:#2e7d32; --bad:#c0392b; --unk:#8a6d00; --accent:#1264a3; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif; color:var(--fg); background:#fafafa; }
header { display:flex; gap:1rem; align-items:center; padding:.6rem 1.2rem; background:#1f2d3d; color:#fff; }
header h1 { font-size:1.05rem; margin:0; } header a { color:#cfe3ff; } header .who { margin-left:auto; font-size:.85rem; }
header form { margin:0; } header button { font:inherit; font-size:.8rem; }
main { padding:1rem 1.2rem; max-width:1400px; }
h2 { font-size:1.05rem; margin:1.4rem 0 .5rem; }
.cards { display:flex; gap:.8rem; flex-wrap:wrap; }
.card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.6rem .9rem; min-width:9rem; }
.card .n { font-size:1.6rem; font-weight:700; } .card .l { color:var(--muted); font-size:.8rem; }
table { border-collapse:collapse; background:#fff; width:100%; margin:.3rem 0 1rem; }
th, td { border-bottom:1px solid var(--line); padding:.3rem .5rem; text-align:left; vertical-align:top; }
th { background:#f0f2f4; font-size:.8rem; color:#333; }
td:first-child { white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.state { font-weight:600; } .compliant { color:var(--ok); } .non-compliant { color:var(--bad); } .unknown { color:var(--unk); }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(480px,1fr)); gap:0 1.2rem; }
.grid > div { overflow-x:auto; }
.muted { color:var(--muted); font-size:.85rem; }
img.chart { max-width:100%; border:1px solid var(--line); background:#fff; }
.downloads a { margin-right:.8rem; }
ul.reasons { margin:0; padding-left:1.1rem; }
`;

export interface PageContext {
  nonce: string;
  viewer: string;
  /** Where the logout form posts; absent for API-token viewers (nothing to log out of). */
  logout: boolean;
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((1000 * part) / whole) / 10}%` : '–';
}

function stamp(d: Date | null): string {
  return d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '–';
}

function age(d: Date | null, now: Date): string {
  if (!d) return 'never';
  const ms = Math.max(0, now.getTime() - d.getTime());
  if (ms >= 2 * 86_400_000) return `${Math.floor(ms / 86_400_000)}d`;
  if (ms >= 3_600_000) return `${Math.floor(ms / 3_600_000)}h`;
  return `${Math.max(1, Math.floor(ms / 60_000))}m`;
}

export function layout(ctx: PageContext, title: string, body: Safe): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title} · Warden</title>
<style nonce="${ctx.nonce}">${trusted(STYLE)}</style></head>
<body><header><h1><a href="/dashboard">Warden compliance</a></h1><span>${title}</span>
<span class="who">${ctx.viewer}</span>
${ctx.logout ? html`<form method="post" action="/dashboard/logout"><button type="submit">Sign out</button></form>` : ''}
</header><main>${body}</main></body></html>`.value;
}

export function messagePage(nonce: string, title: string, text: string): string {
  return layout({ nonce, viewer: '', logout: false }, title, html`<h2>${title}</h2><p>${text}</p>`);
}

function stateCell(state: string | null): Html {
  const s = state ?? 'unknown';
  return html`<span class="state ${s}">${s}</span>`;
}

function cards(rows: readonly BreakdownRow[]): Html {
  const total = rows.reduce(
    (t, r) => ({
      servers: t.servers + r.servers,
      compliant: t.compliant + r.compliant,
      nonCompliant: t.nonCompliant + r.nonCompliant,
      unknown: t.unknown + r.unknown,
      pendingSecurity: t.pendingSecurity + r.pendingSecurity,
    }),
    { servers: 0, compliant: 0, nonCompliant: 0, unknown: 0, pendingSecurity: 0 },
  );
  const card = (n: string | number, l: string, cls = '') =>
    html`<div class="card"><div class="n ${cls}">${n}</div><div class="l">${l}</div></div>`;
  return html`<div class="cards">${[
    card(total.servers, 'servers'),
    card(pct(total.compliant, total.servers), 'compliant', 'compliant'),
    card(total.nonCompliant, 'non-compliant', 'non-compliant'),
    card(total.unknown, 'unknown (stale or never scanned)', 'unknown'),
    card(total.pendingSecurity, 'security updates pending'),
  ]}</div>`;
}

const DIMENSION_LABEL = {
  project: 'Project',
  account: 'Account',
  region: 'Region',
  provider: 'Provider',
} as const;

function breakdownTable(
  dimension: BreakdownRow['dimension'],
  rows: readonly BreakdownRow[],
  link: boolean,
): Html {
  return html`<div><h2>By ${dimension}</h2><table><thead><tr><th>${DIMENSION_LABEL[dimension]}</th><th class="num">Servers</th>
<th class="num">Compliant</th><th class="num">Non-compliant</th><th class="num">Unknown</th><th class="num">Security pending</th></tr></thead>
<tbody>${rows.map(
    (
      r,
    ) => html`<tr><td>${link && r.value !== '(none)' ? html`<a href="/dashboard/p/${encodeURIComponent(r.value)}">${r.value}</a>` : r.value}</td>
<td class="num">${r.servers}</td><td class="num">${r.compliant} (${pct(r.compliant, r.servers)})</td>
<td class="num">${r.nonCompliant}</td><td class="num">${r.unknown}</td><td class="num">${r.pendingSecurity}</td></tr>`,
  )}</tbody></table></div>`;
}

function serverRows(lines: readonly ServerLine[], now: Date, withProject: boolean): Html {
  return html`<table><thead><tr><th>Server</th>${withProject ? html`<th>Project</th>` : ''}<th>State</th><th>Since</th>
<th>Reasons</th><th class="num">Security</th><th>Last good scan</th><th>Baseline failing</th></tr></thead><tbody>${lines.map(
    (l) => html`<tr><td><a href="/dashboard/s/${encodeURIComponent(l.server)}">${l.server}</a></td>
${withProject ? html`<td>${l.project ?? '–'}</td>` : ''}<td>${stateCell(l.state)}</td>
<td title="${stamp(l.since)}">${l.since ? age(l.since, now) : '–'}</td>
<td><ul class="reasons">${l.reasonTexts.map((t) => html`<li>${t}</li>`)}</ul></td>
<td class="num">${l.openSecurity}</td><td>${age(l.lastGoodScanAt, now)}</td><td>${(l.baselineFailing ?? []).join(', ')}</td></tr>`,
  )}</tbody></table>`;
}

function downloads(project: string | null): Html {
  const q = project ? `?project=${encodeURIComponent(project)}` : '';
  const kinds = ['compliance', 'vendors', 'trends', 'users'] as const;
  return html`<p class="downloads">${kinds.map(
    (k) =>
      html`${k}: <a href="/dashboard/reports/${k}.pdf${q}">PDF</a> <a href="/dashboard/reports/${k}.csv${q}">CSV</a> · `,
  )}<span class="muted">The per-user report needs audit:read.</span></p>`;
}

export function overviewPage(ctx: PageContext, view: OverviewView, now: Date): string {
  if (view.projects.length === 0 && view.breakdown.length === 0) {
    return layout(
      ctx,
      'Overview',
      html`<p>You may not read the compliance of any project yet. Ask an admin for a role with compliance:read.</p>`,
    );
  }
  const by = (d: BreakdownRow['dimension']) => view.breakdown.filter((r) => r.dimension === d);
  return layout(
    ctx,
    'Overview',
    html`${cards(by('project'))}
<h2>Last 30 days</h2>${view.hasTrend ? html`<img class="chart" src="/dashboard/charts/trend.png" alt="Compliance, pending security updates and mean time to patch over the last 30 days">` : html`<p class="muted">No daily figures yet: they appear after the first compliance evaluation.</p>`}
<div class="grid">${breakdownTable('project', by('project'), true)}${breakdownTable('account', by('account'), false)}
${breakdownTable('region', by('region'), false)}${breakdownTable('provider', by('provider'), false)}</div>
<h2>Servers needing attention</h2>${view.worst.length ? serverRows(view.worst, now, true) : html`<p>Every server is compliant.</p>`}
<h2>Reports</h2>${downloads(null)}`,
  );
}

function threadLink(t: ConversationRow['threads'][number], publicUrl: string): Html {
  let url = `${publicUrl}/`;
  if (t.platform === 'slack')
    url = `https://slack.com/archives/${encodeURIComponent(t.channel)}/p${t.messageId.replace('.', '')}`;
  if (t.platform === 'teams')
    url = `https://teams.microsoft.com/l/message/${encodeURIComponent(t.channel)}/${encodeURIComponent(t.messageId)}`;
  return html`<a href="${safeHref(url)}" rel="noreferrer" target="_blank">${t.platform} thread</a> `;
}

function conversations(rows: readonly ConversationRow[], publicUrl: string, now: Date): Html {
  if (rows.length === 0) return html`<p class="muted">No approvals, scans or patch plans yet.</p>`;
  return html`<table><thead><tr><th>What</th><th>Status</th><th>When</th><th>Chat</th><th>Tickets</th></tr></thead><tbody>${rows.map(
    (r) => html`<tr><td>${r.kind}: ${r.title}</td><td>${r.status}</td><td>${age(r.at, now)} ago</td>
<td>${r.threads.length ? r.threads.map((t) => threadLink(t, publicUrl)) : html`<span class="muted">–</span>`}</td>
<td>${r.tickets.map((t) => html`<a href="${safeHref(t.url)}" rel="noreferrer" target="_blank">${t.key}</a> `)}</td></tr>`,
  )}</tbody></table>`;
}

function baselineTable(rows: readonly BaselineStateWithServer[], now: Date, withServer: boolean): Html {
  if (rows.length === 0) return html`<p class="muted">No failing baseline checks.</p>`;
  return html`<table><thead><tr>${withServer ? html`<th>Server</th>` : ''}<th>Check</th><th>Status</th><th>Since</th><th>Seen</th></tr></thead><tbody>${rows.map(
    (b) => html`<tr>${withServer ? html`<td>${b.serverName}</td>` : ''}<td>${b.checkId}: ${b.title}</td>
<td><span class="state ${b.status === 'pass' ? 'compliant' : b.status === 'fail' ? 'non-compliant' : 'unknown'}">${b.status}</span></td>
<td>${age(b.since, now)}</td><td>${b.lastEvidence}</td></tr>`,
  )}</tbody></table>`;
}

export function projectPage(ctx: PageContext, view: ProjectView, now: Date, publicUrl: string): string {
  const counts = { compliant: 0, 'non-compliant': 0, unknown: 0 };
  for (const s of view.servers) counts[s.state ?? 'unknown'] += 1;
  const total = view.servers.length;
  return layout(
    ctx,
    `Project ${view.slug}`,
    html`<p>${view.name}</p><div class="cards">
<div class="card"><div class="n">${total}</div><div class="l">servers</div></div>
<div class="card"><div class="n compliant">${pct(counts.compliant, total)}</div><div class="l">compliant</div></div>
<div class="card"><div class="n non-compliant">${counts['non-compliant']}</div><div class="l">non-compliant</div></div>
<div class="card"><div class="n unknown">${counts.unknown}</div><div class="l">unknown</div></div></div>
<h2>Last 30 days</h2>${view.hasTrend ? html`<img class="chart" src="/dashboard/charts/trend.png?project=${view.slug}" alt="Trend of project ${view.slug}">` : html`<p class="muted">No daily figures yet.</p>`}
<h2>Servers</h2>${serverRows(view.servers, now, false)}
<h2>Configuration baseline: failing checks</h2>${baselineTable(view.baselineFailing, now, true)}
<h2>Conversations and tickets</h2>${conversations(view.conversations, publicUrl, now)}
<h2>Reports</h2>${downloads(view.slug)}`,
  );
}

export function serverPage(ctx: PageContext, view: ServerView, now: Date): string {
  const l = view.line;
  return layout(
    ctx,
    `Server ${l.server}`,
    html`<p>${l.project ? html`Project <a href="/dashboard/p/${encodeURIComponent(l.project)}">${l.project}</a> · ` : ''}${l.provider}${l.account ? ` · account ${l.account}` : ''}${l.region ? ` · ${l.region}` : ''}${l.owner ? ` · owner @${l.owner}` : ''}</p>
<p>${stateCell(l.state)} since ${stamp(l.since)} (${age(l.since, now)}) · last good scan ${stamp(l.lastGoodScanAt)}</p>
<ul class="reasons">${l.reasonTexts.map((t) => html`<li>${t}</li>`)}</ul>
<h2>Pending updates (${view.findings.length})</h2>${
      view.findings.length
        ? html`<table><thead><tr><th>Package</th><th>Installed → candidate</th><th>Class</th><th>Severity</th><th>Pending for</th><th>CVEs</th></tr></thead><tbody>${view.findings.map(
            (
              f,
            ) => html`<tr><td>${f.package}${f.arch ? `:${f.arch}` : ''}</td><td>${f.installedVersion} → ${f.candidateVersion}</td>
<td>${f.classification}</td><td>${f.severity}</td><td>${age(f.firstSeenAt, now)}</td><td>${f.cves.slice(0, 5).join(', ')}</td></tr>`,
          )}</tbody></table>`
        : html`<p class="muted">Nothing pending.</p>`
    }
<h2>Configuration baseline</h2>${baselineTable(view.baseline, now, false)}
<h2>Tickets</h2>${
      view.tickets.length
        ? html`<ul>${view.tickets.map((t) => html`<li><a href="${safeHref(t.url)}" rel="noreferrer" target="_blank">${t.key}</a> <span class="muted">${t.subject}</span></li>`)}</ul>`
        : html`<p class="muted">No remediation tickets.</p>`
    }`,
  );
}
