import { AppError } from '../../lib/errors.js';
import { type BaselineStateWithServer, listBaselineStates } from '../../storage/baselines.js';
import { listOpenFindingsOfServer, type OpenFinding } from '../../storage/findings.js';
import { getProjectBySlug, getServerByName, listProjects } from '../../storage/inventory.js';
import {
  type BreakdownRow,
  type ComplianceRow,
  type ConversationRow,
  complianceBreakdown,
  listComplianceRows,
  listDailyTrend,
  listProjectConversations,
  listServerTickets,
} from '../../storage/reports.js';
import { renderTrendChart } from '../compliance/chart.js';
import type { DashboardScope } from '../compliance/dashboard-link.js';
import { evaluateCompliance, loadStandards } from '../compliance/evaluate.js';
import type { TrendPoint } from '../compliance/rollup.js';
import { fromStoredReasons, reasonText } from '../compliance/rules.js';
import type { Deps } from '../deps.js';
import { projectsWith } from '../inventory/scope.js';
import type { Actor } from '../rbac/authorize.js';

/**
 * What the dashboard shows, decided here (not in the HTTP adapter): the projects a viewer may
 * see are those where they hold compliance:read, narrowed to one project when their link was for
 * one. Everything else is a 404, so a page never tells whether a project it hides exists.
 */
export interface Viewer {
  actor: Actor;
  scope: DashboardScope;
}

export interface VisibleProjects {
  /** null: every project (and servers in none). */
  ids: number[] | null;
  slugs: string[];
}

const DAY = 86_400_000;

function hidden(what: string): AppError {
  return new AppError(
    'not_found',
    `${what} is not on your dashboard (it does not exist, or you may not read it)`,
  );
}

export async function visibleProjects(deps: Deps, viewer: Viewer): Promise<VisibleProjects> {
  const ids = projectsWith(viewer.actor, 'compliance:read');
  if (viewer.scope.kind === 'project') {
    const project = await getProjectBySlug(deps.sql, viewer.scope.slug);
    if (!project || (ids !== null && !ids.includes(project.id))) return { ids: [], slugs: [] };
    return { ids: [project.id], slugs: [project.slug] };
  }
  const projects = await listProjects(deps.sql, { projectIds: ids });
  return { ids, slugs: projects.map((p) => p.slug) };
}

async function evaluate(deps: Deps, ids: number[] | null): Promise<void> {
  if (ids === null) await evaluateCompliance(deps);
  else for (const id of ids) await evaluateCompliance(deps, { projectId: id });
}

export interface ServerLine extends ComplianceRow {
  reasonTexts: string[];
}

async function withReasons(deps: Deps, rows: ComplianceRow[], ids: number[] | null): Promise<ServerLine[]> {
  const now = deps.clock.now();
  const { byProject, fallback } = await loadStandards(deps.sql, now, ids);
  return rows.map((r) => {
    const std = (r.projectId !== null ? byProject.get(r.projectId)?.standards : undefined) ?? fallback;
    const reasonTexts = r.state
      ? fromStoredReasons(r.reasons).map((x) => reasonText(x, std, now))
      : ['not evaluated yet'];
    return { ...r, reasonTexts };
  });
}

export interface OverviewView {
  projects: string[];
  breakdown: BreakdownRow[];
  worst: ServerLine[];
  hasTrend: boolean;
}

export async function dashboardOverview(deps: Deps, viewer: Viewer): Promise<OverviewView> {
  const visible = await visibleProjects(deps, viewer);
  if (visible.ids !== null && visible.ids.length === 0)
    return { projects: [], breakdown: [], worst: [], hasTrend: false };
  await evaluate(deps, visible.ids);
  const [breakdown, rows, trend] = await Promise.all([
    complianceBreakdown(deps.sql, visible.ids),
    listComplianceRows(deps.sql, visible.ids),
    trendRows(deps, visible.ids, 30),
  ]);
  const worst = rows.filter((r) => r.state !== 'compliant').slice(0, 15);
  return {
    projects: visible.slugs,
    breakdown,
    worst: await withReasons(deps, worst, visible.ids),
    hasTrend: trend.length > 0,
  };
}

export interface ProjectView {
  slug: string;
  name: string;
  servers: ServerLine[];
  conversations: ConversationRow[];
  baselineFailing: BaselineStateWithServer[];
  hasTrend: boolean;
}

async function visibleProject(deps: Deps, viewer: Viewer, slug: string) {
  const visible = await visibleProjects(deps, viewer);
  const project = await getProjectBySlug(deps.sql, slug);
  if (!project || !(visible.ids === null || visible.ids.includes(project.id)))
    throw hidden(`project ${slug}`);
  return project;
}

export async function dashboardProject(deps: Deps, viewer: Viewer, slug: string): Promise<ProjectView> {
  const project = await visibleProject(deps, viewer, slug);
  await evaluate(deps, [project.id]);
  const [rows, conversations, baseline, trend] = await Promise.all([
    listComplianceRows(deps.sql, [project.id]),
    listProjectConversations(deps.sql, project.id, 20),
    listBaselineStates(deps.sql, { projectIds: [project.id] }),
    trendRows(deps, [project.id], 30),
  ]);
  return {
    slug: project.slug,
    name: project.name,
    servers: await withReasons(deps, rows, [project.id]),
    conversations,
    baselineFailing: baseline.filter((b) => b.status === 'fail'),
    hasTrend: trend.length > 0,
  };
}

export interface ServerView {
  line: ServerLine;
  findings: OpenFinding[];
  baseline: BaselineStateWithServer[];
  tickets: Awaited<ReturnType<typeof listServerTickets>>;
}

export async function dashboardServer(deps: Deps, viewer: Viewer, name: string): Promise<ServerView> {
  const server = await getServerByName(deps.sql, name);
  if (!server) throw hidden(`server ${name}`);
  const visible = await visibleProjects(deps, viewer);
  const allowed =
    visible.ids === null || (server.projectId !== null && visible.ids.includes(server.projectId));
  if (!allowed) throw hidden(`server ${name}`);
  if (server.projectId !== null) await evaluate(deps, [server.projectId]);
  const scope = server.projectId === null ? null : [server.projectId];
  const row = (await listComplianceRows(deps.sql, scope)).find((r) => r.serverId === server.id);
  if (!row) throw hidden(`server ${name}`);
  const [line] = await withReasons(deps, [row], scope);
  return {
    line: line!,
    findings: await listOpenFindingsOfServer(deps.sql, server.id, 100),
    baseline: await listBaselineStates(deps.sql, { serverIds: [server.id] }),
    tickets: await listServerTickets(deps.sql, server.name),
  };
}

async function trendRows(deps: Deps, ids: number[] | null, days: number) {
  const today = deps.clock.now();
  return listDailyTrend(deps.sql, {
    projectIds: ids,
    fromDay: new Date(today.getTime() - (days - 1) * DAY).toISOString().slice(0, 10),
    toDay: today.toISOString().slice(0, 10),
  });
}

/** The 30-day trend chart (the digest's renderer) for the visible projects or one of them; undefined without data. */
export async function dashboardTrendPng(
  deps: Deps,
  viewer: Viewer,
  slug?: string,
): Promise<Buffer | undefined> {
  const ids =
    slug !== undefined
      ? [(await visibleProject(deps, viewer, slug)).id]
      : (await visibleProjects(deps, viewer)).ids;
  if (ids !== null && ids.length === 0) return undefined;
  const rows = await trendRows(deps, ids, 30);
  if (rows.length === 0) return undefined;
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const points: TrendPoint[] = [];
  let carried: (typeof rows)[number] | undefined;
  for (let i = 29; i >= 0; i--) {
    const day = new Date(deps.clock.now().getTime() - i * DAY).toISOString().slice(0, 10);
    const row = byDay.get(day);
    if (row) carried = row;
    const state = row ?? carried;
    points.push({
      day,
      compliancePct: state && state.servers > 0 ? (100 * state.compliant) / state.servers : null,
      pendingSecurity: state?.pendingSecurity ?? null,
      mttpDays: row?.mttpSeconds != null ? row.mttpSeconds / 86_400 : null,
    });
  }
  return renderTrendChart(points, {
    title: slug ? `Project ${slug}: last 30 days` : 'All your projects: last 30 days',
  });
}
