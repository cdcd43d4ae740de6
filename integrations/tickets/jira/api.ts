import { HttpException, Version2Client, Version3Client } from 'jira.js';
import type { z } from 'zod';
import { IntegrationError } from '../../../lib/errors.js';
import { httpError, networkError, parseRetryAfter } from '../common.js';
import type { JiraConfig } from '../config.js';
import type { TicketDeps } from '../types.js';
import { textToAdf } from './adf.js';
import { JiraErrorBody } from './schema.js';

/**
 * The Jira calls Warden makes, over jira.js's typed clients: Version3Client for Cloud (ADF bodies,
 * /rest/api/3, /search/jql) or Version2Client for Data Center (plain text, /rest/api/2, /search).
 * Every answer is returned as `unknown` and validated by the caller's zod schema, so a Jira that
 * answers in an unexpected shape fails loudly here rather than deep inside Warden.
 */
export interface JiraApi {
  getIssue(key: string): Promise<unknown>;
  createIssue(fields: Record<string, unknown>, description: string): Promise<unknown>;
  recentComments(key: string, max: number): Promise<unknown>;
  addComment(key: string, text: string): Promise<unknown>;
  transitions(key: string): Promise<unknown>;
  doTransition(key: string, transitionId: string, comment: string | undefined): Promise<unknown>;
  linkIssues(type: string, inward: string, outward: string): Promise<unknown>;
  remoteLink(key: string, url: string, globalId: string): Promise<unknown>;
  search(jql: string): Promise<unknown>;
}

const TIMEOUT_MS = 15_000;

function clientConfig(config: JiraConfig) {
  return {
    host: config.url,
    // Cloud: basic auth with e-mail and API token. Data Center: a personal access token as bearer.
    ...(config.email
      ? { authentication: { basic: { email: config.email, apiToken: config.apiToken } } }
      : {}),
    baseRequestConfig: {
      timeout: TIMEOUT_MS,
      ...(config.email ? {} : { headers: { Authorization: `Bearer ${config.apiToken}` } }),
    },
  };
}

function v3Api(config: JiraConfig): JiraApi {
  const client = new Version3Client(clientConfig(config));
  const commentUpdate = (text: string | undefined) =>
    text === undefined ? undefined : { comment: [{ add: { body: textToAdf(text) } }] };
  return {
    getIssue: (key) => client.issues.getIssue<unknown>({ issueIdOrKey: key, fields: ['status', 'summary'] }),
    createIssue: (fields, description) =>
      client.issues.createIssue<unknown>({
        fields: {
          ...(fields as { summary: string; project: { key: string }; issuetype: { name: string } }),
          description: textToAdf(description) as never,
        },
      }),
    recentComments: (key, max) =>
      client.issueComments.getComments<unknown>({ issueIdOrKey: key, orderBy: '-created', maxResults: max }),
    addComment: (key, text) =>
      client.issueComments.addComment<unknown>({ issueIdOrKey: key, comment: textToAdf(text) as never }),
    transitions: (key) => client.issues.getTransitions<unknown>({ issueIdOrKey: key }),
    doTransition: (key, id, text) =>
      client.issues.doTransition<unknown>({
        issueIdOrKey: key,
        transition: { id },
        update: commentUpdate(text),
      }),
    linkIssues: (type, inward, outward) =>
      client.issueLinks.linkIssues<unknown>({
        type: { name: type },
        inwardIssue: { key: inward },
        outwardIssue: { key: outward },
      }),
    remoteLink: (key, url, globalId) =>
      client.issueRemoteLinks.createOrUpdateRemoteIssueLink<unknown>({
        issueIdOrKey: key,
        globalId,
        object: { url, title: url },
      }),
    search: (jql) =>
      client.issueSearch.searchForIssuesUsingJqlEnhancedSearch<unknown>({
        jql,
        maxResults: 1,
        fields: ['summary'],
      }),
  };
}

function v2Api(config: JiraConfig): JiraApi {
  const client = new Version2Client(clientConfig(config));
  const commentUpdate = (text: string | undefined) =>
    text === undefined ? undefined : { comment: [{ add: { body: text } }] };
  return {
    getIssue: (key) => client.issues.getIssue<unknown>({ issueIdOrKey: key, fields: ['status', 'summary'] }),
    createIssue: (fields, description) =>
      client.issues.createIssue<unknown>({
        fields: {
          ...(fields as { summary: string; project: { key: string }; issuetype: { name: string } }),
          description,
        },
      }),
    recentComments: (key, max) =>
      client.issueComments.getComments<unknown>({ issueIdOrKey: key, orderBy: '-created', maxResults: max }),
    addComment: (key, text) => client.issueComments.addComment<unknown>({ issueIdOrKey: key, comment: text }),
    transitions: (key) => client.issues.getTransitions<unknown>({ issueIdOrKey: key }),
    doTransition: (key, id, text) =>
      client.issues.doTransition<unknown>({
        issueIdOrKey: key,
        transition: { id },
        update: commentUpdate(text),
      }),
    linkIssues: (type, inward, outward) =>
      client.issueLinks.linkIssues<unknown>({
        type: { name: type },
        inwardIssue: { key: inward },
        outwardIssue: { key: outward },
      }),
    remoteLink: (key, url, globalId) =>
      client.issueRemoteLinks.createOrUpdateRemoteIssueLink<unknown>({
        issueIdOrKey: key,
        globalId,
        object: { url, title: url },
      }),
    // Data Center has no /search/jql; /rest/api/2/search is its search.
    search: (jql) =>
      client.issueSearch.searchForIssuesUsingJql<unknown>({ jql, maxResults: 1, fields: ['summary'] }),
  };
}

export function createJiraApi(config: JiraConfig): JiraApi {
  return config.apiVersion === '3' ? v3Api(config) : v2Api(config);
}

interface AxiosLikeCause {
  response?: { data?: unknown; headers?: Record<string, unknown> };
}

/** Jira's `{ errorMessages: [], errors: {} }` as one sentence. */
function errorDetail(data: unknown): string {
  const parsed = JiraErrorBody.safeParse(data);
  if (!parsed.success) return typeof data === 'string' ? data.slice(0, 300) : '';
  const { errorMessages = [], errors = {} } = parsed.data;
  return [...errorMessages, ...Object.entries(errors).map(([field, message]) => `${field}: ${message}`)].join(
    '; ',
  );
}

/**
 * Make one call and validate its answer; failures become AppError/IntegrationError with Jira's
 * own words and, on 429/503, its Retry-After.
 */
export async function jiraCall<S extends z.ZodType>(
  deps: TicketDeps,
  what: string,
  call: () => Promise<unknown>,
  schema: S,
): Promise<z.output<S>> {
  let answer: unknown;
  try {
    answer = await call();
  } catch (error) {
    if (error instanceof HttpException) {
      const cause = error.cause as AxiosLikeCause | undefined;
      const header = cause?.response?.headers?.['retry-after'];
      throw httpError('jira', what, {
        status: error.status,
        detail: errorDetail(cause?.response?.data),
        retryAfter: parseRetryAfter(typeof header === 'string' ? header : undefined, deps.clock.now()),
      });
    }
    throw networkError('jira', what, error);
  }
  const parsed = schema.safeParse(answer);
  if (!parsed.success) {
    throw new IntegrationError(
      'jira',
      `Jira answered "${what}" in a shape Warden does not understand: ${parsed.error.issues[0]?.message}`,
    );
  }
  return parsed.data;
}
