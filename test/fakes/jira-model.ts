import type { Clock } from '../../lib/clock.js';
import type { FakeResponse } from './strict-http.js';

/** The state and wire details of the Jira fake (test/fakes/jira.ts). */
export type JiraCategory = 'new' | 'indeterminate' | 'done';

export interface FakeJiraTransition {
  id: string;
  name: string;
  from: string[];
  to: string;
}

export interface FakeJiraComment {
  id: string;
  body: unknown;
  /** The body as text (ADF flattened), for assertions. */
  text: string;
  created: string;
}

export interface FakeJiraIssue {
  id: string;
  key: string;
  summary: string;
  description: unknown;
  issueType: string;
  labels: string[];
  fields: Record<string, unknown>;
  status: string;
  comments: FakeJiraComment[];
  /** Transition names applied, in order. */
  history: string[];
  links: { type: string; inward: string; outward: string }[];
  remoteLinks: { globalId: string; url: string }[];
}

export interface FakeJiraOptions {
  apiVersion?: '2' | '3';
  /** Basic auth (Cloud). Default warden@example.com / jira-api-token. */
  email?: string;
  apiToken?: string;
  /** Bearer PAT (Data Center) instead of basic auth. */
  bearer?: string;
  projects?: string[];
  issueTypes?: string[];
  linkTypes?: string[];
  statuses?: Record<string, JiraCategory>;
  transitions?: FakeJiraTransition[];
  /** Drives outages and comment timestamps. */
  clock?: Clock;
}

export const DEFAULT_STATUSES: Record<string, JiraCategory> = {
  Open: 'new',
  Approved: 'indeterminate',
  'In Progress': 'indeterminate',
  Done: 'done',
  Failed: 'done',
  Rejected: 'done',
  Cancelled: 'done',
};

export const DEFAULT_TRANSITIONS: FakeJiraTransition[] = [
  { id: '11', name: 'Approve', from: ['Open'], to: 'Approved' },
  { id: '21', name: 'Start', from: ['Approved'], to: 'In Progress' },
  { id: '31', name: 'Complete', from: ['In Progress'], to: 'Done' },
  { id: '41', name: 'Fail', from: ['In Progress'], to: 'Failed' },
  { id: '51', name: 'Cancel', from: ['Open', 'Approved', 'In Progress'], to: 'Cancelled' },
  { id: '61', name: 'Reject', from: ['Open'], to: 'Rejected' },
];

export function jiraError(
  status: number,
  messages: string[],
  errors: Record<string, string> = {},
): FakeResponse {
  return { status, body: { errorMessages: messages, errors } };
}

interface AdfLike {
  type?: unknown;
  text?: unknown;
  content?: unknown;
  version?: unknown;
}

/** Is `body` an ADF document Jira would take (doc, version 1, block nodes with inline content)? */
export function isAdf(body: unknown): boolean {
  const doc = body as AdfLike;
  if (!doc || doc.type !== 'doc' || doc.version !== 1 || !Array.isArray(doc.content)) return false;
  return doc.content.every((block: AdfLike) => {
    if (block?.type !== 'paragraph') return false;
    if (block.content === undefined) return true;
    return (
      Array.isArray(block.content) &&
      block.content.every(
        (n: AdfLike) =>
          (n?.type === 'text' && typeof n.text === 'string' && n.text !== '') || n?.type === 'hardBreak',
      )
    );
  });
}

export function adfText(body: unknown): string {
  const walk = (node: AdfLike): string => {
    if (node.type === 'text') return String(node.text);
    if (node.type === 'hardBreak') return '\n';
    const parts = Array.isArray(node.content) ? node.content.map(walk) : [];
    return node.type === 'doc' ? parts.join('\n\n') : parts.join('');
  };
  return walk(body as AdfLike);
}
