import { z } from 'zod';
import { AppError } from '../../../lib/errors.js';
import { clip, JIRA_KEY, markerFor, normalizeKey, openLabel, statusOf, withMarker } from '../common.js';
import type { JiraConfig } from '../config.js';
import type {
  OpenedTicket,
  StatusCategory,
  Ticket,
  TicketDeps,
  TicketSystem,
  TicketTransition,
  TransitionResult,
} from '../types.js';
import { adfToText } from './adf.js';
import { createJiraApi, type JiraApi, jiraCall } from './api.js';
import {
  JiraCommentPage,
  JiraCreatedIssue,
  JiraIssue,
  JiraSearch,
  type JiraStatus,
  JiraTransitions,
} from './schema.js';

const MAX_SUMMARY = 255;
/** Jira's text fields hold 32,767 characters; leave room for the marker. */
const MAX_BODY = 30_000;
/** How far back the marker check looks: one subject's items go out one at a time, so a few suffice. */
const MARKER_WINDOW = 50;

const Nothing = z.unknown();

/** Jira's status categories (new / indeterminate / done) in Warden's words. */
export function jiraCategory(status: JiraStatus): StatusCategory {
  const key = status.statusCategory?.key;
  if (key === 'done') return 'done';
  if (key === 'indeterminate') return 'in-progress';
  return 'open';
}

function same(a: string, b: string): boolean {
  return a.localeCompare(b, undefined, { sensitivity: 'accent' }) === 0;
}

/** Quote a value for JQL: backslashes and double quotes escaped. */
function jqlString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The Jira implementation of TicketSystem (Cloud with API v3, Data Center with API v2).
 *
 * @example
 * const jira = createJiraTickets(config.tickets.jira, { clock });
 * const { key } = await jira.open({ kind: 'change', summary: 'Patch web-01', description: '…' });
 * await jira.transition(key, 'approved', { idempotencyKey: 'plan-7:approved', comment: 'Approved by bob' });
 */
export function createJiraTickets(
  config: JiraConfig,
  deps: TicketDeps,
  api: JiraApi = createJiraApi(config),
): TicketSystem {
  const browse = (key: string) => `${config.url}/browse/${key}`;

  /** Every call takes a key from outside; only a well-formed one ever reaches a URL path. */
  function checkedKey(raw: string): string {
    const key = normalizeKey(raw);
    if (!JIRA_KEY.test(key)) {
      throw new AppError('bad_request', `"${clip(raw, 40)}" is not a Jira issue key; keys look like OPS-12`);
    }
    return key;
  }

  async function fetchIssue(key: string): Promise<JiraIssue | undefined> {
    try {
      return await jiraCall(deps, `read ${key}`, () => api.getIssue(key), JiraIssue);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async function requireIssue(key: string): Promise<JiraIssue> {
    const issue = await fetchIssue(key);
    if (!issue) {
      throw new AppError(
        'bad_request',
        `Jira issue ${key} does not exist, or Warden's service account cannot see it`,
      );
    }
    return issue;
  }

  async function addComment(key: string, body: string): Promise<{ id: string }> {
    const comment = await jiraCall(
      deps,
      `comment on ${key}`,
      () => api.addComment(key, body),
      z.object({ id: z.string() }),
    );
    return { id: comment.id };
  }

  async function transition(
    rawKey: string,
    to: TicketTransition,
    options: { idempotencyKey: string; comment: string },
  ): Promise<TransitionResult> {
    const key = checkedKey(rawKey);
    const names = config.transitions[to];
    const body = withMarker(clip(options.comment, MAX_BODY), options.idempotencyKey);
    const before = await requireIssue(key);
    const from = before.fields.status.name;
    if (names.length === 0) {
      await addComment(key, body);
      return { from, to: from, applied: [] };
    }
    const applied: string[] = [];
    for (const [i, name] of names.entries()) {
      const last = i === names.length - 1;
      const offered = await jiraCall(
        deps,
        `list the transitions of ${key}`,
        () => api.transitions(key),
        JiraTransitions,
      );
      const found = offered.transitions.find((t) => same(t.name, name) || same(t.to.name, name));
      if (!found) {
        // An earlier step of a path may already be behind us (a retry after a crash): go on.
        if (!last) continue;
        const now = await requireIssue(key);
        const alreadyThere = same(now.fields.status.name, name);
        const closedAnyway =
          jiraCategory(now.fields.status) === 'done' && to !== 'approved' && to !== 'in-progress';
        if (alreadyThere || closedAnyway) {
          await addComment(key, body);
          return { from, to: now.fields.status.name, applied };
        }
        const choices = offered.transitions.map((t) => `"${t.name}"`).join(', ') || 'none';
        throw new AppError(
          'bad_request',
          `Jira offers no transition "${name}" for ${key} in status "${now.fields.status.name}" (it offers ${choices}); set JIRA_TRANSITIONS to this workflow's names for "${to}"`,
        );
      }
      await jiraCall(
        deps,
        `move ${key} through "${found.name}"`,
        () => api.doTransition(key, found.id, last ? body : undefined),
        Nothing,
      );
      applied.push(found.name);
    }
    const after = await requireIssue(key);
    return { from, to: after.fields.status.name, applied };
  }

  return {
    name: 'jira',
    isValidKey: (key) => JIRA_KEY.test(normalizeKey(key)),

    async get(rawKey): Promise<Ticket | undefined> {
      const key = normalizeKey(rawKey);
      if (!JIRA_KEY.test(key)) return undefined;
      const issue = await fetchIssue(key);
      if (!issue) return undefined;
      const category = jiraCategory(issue.fields.status);
      return {
        system: 'jira',
        key: issue.key,
        status: issue.fields.status.name,
        statusCategory: category,
        open: category !== 'done',
        summary: issue.fields.summary ?? '',
        url: browse(issue.key),
      };
    },

    async open(input): Promise<OpenedTicket> {
      const labels = ['warden'];
      if (input.idempotencyKey) {
        const label = openLabel(input.idempotencyKey);
        labels.push(label);
        const jql = `project = ${jqlString(config.projectKey)} AND labels = ${jqlString(label)}`;
        const found = await jiraCall(
          deps,
          'look for a ticket opened before',
          () => api.search(jql),
          JiraSearch,
        );
        const existing = found.issues[0];
        if (existing) return { key: existing.key, url: browse(existing.key), created: false };
      }
      const summary = clip(input.summary.replace(/\s+/g, ' ').trim(), MAX_SUMMARY);
      if (!summary) throw new AppError('bad_request', 'a ticket needs a summary');
      const fields: Record<string, unknown> = {
        ...config.fields,
        ...input.fields,
        project: { key: config.projectKey },
        issuetype: { name: input.kind === 'incident' ? config.incidentIssueType : config.issueType },
        summary,
        labels,
      };
      const created = await jiraCall(
        deps,
        `open a ${input.kind} ticket in ${config.projectKey}`,
        () => api.createIssue(fields, clip(input.description, MAX_BODY)),
        JiraCreatedIssue,
      );
      return { key: created.key, url: browse(created.key), created: true };
    },

    async comment(rawKey, text, options) {
      return addComment(checkedKey(rawKey), withMarker(clip(text, MAX_BODY), options.idempotencyKey));
    },

    async hasMarker(rawKey, idempotencyKey) {
      const key = checkedKey(rawKey);
      const marker = markerFor(idempotencyKey);
      const page = await jiraCall(
        deps,
        `read the comments of ${key}`,
        () => api.recentComments(key, MARKER_WINDOW),
        JiraCommentPage,
      );
      return page.comments.some((c) => adfToText(c.body).includes(marker));
    },

    transition,

    async link(rawKey, target) {
      const key = checkedKey(rawKey);
      const other = normalizeKey(target);
      if (JIRA_KEY.test(other)) {
        await jiraCall(
          deps,
          `link ${key} to ${other}`,
          () => api.linkIssues(config.linkType, key, other),
          Nothing,
        );
        return;
      }
      if (!/^https?:\/\/\S+$/.test(target.trim())) {
        throw new AppError(
          'bad_request',
          `link ${key} to a Jira key (OPS-12) or an http(s) URL, not "${clip(target, 60)}"`,
        );
      }
      const url = target.trim();
      // The global id makes a repeated link update the same remote link instead of adding another.
      await jiraCall(deps, `link ${key} to ${url}`, () => api.remoteLink(key, url, `warden:${url}`), Nothing);
    },
  };
}
