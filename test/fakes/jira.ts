import {
  adfText,
  DEFAULT_STATUSES,
  DEFAULT_TRANSITIONS,
  type FakeJiraComment,
  type FakeJiraIssue,
  type FakeJiraOptions,
  isAdf,
  jiraError,
} from './jira-model.js';
import {
  type RecordedRequest,
  type RouteHandler,
  type StrictServer,
  startStrictServer,
} from './strict-http.js';

export * from './jira-model.js';

/**
 * A strict local fake of Jira's REST API (Cloud v3 with ADF bodies, or Data Center v2 with plain
 * text), on the strict fake HTTP server. It checks authentication on every call (basic e-mail:token,
 * or a bearer PAT), answers with Jira's documented error body `{ errorMessages, errors }`, keeps
 * state (issues, statuses, a workflow of transitions, comments, links), fails the test on any call
 * it does not know (the other API version included), and can be told to be down (503) until a
 * time on the test's clock, or to answer 429 with Retry-After.
 */
export interface FakeJira {
  server: StrictServer;
  url: string;
  issues: Map<string, FakeJiraIssue>;
  /** Put an issue in place, as if someone had opened it in Jira. */
  addIssue(input: { key?: string; summary?: string; status?: string; project?: string }): FakeJiraIssue;
  issue(key: string): FakeJiraIssue;
  /** Answer every call with `status` (503 by default) until the clock reaches `until`. */
  outage(until: Date, options?: { status?: number; retryAfterSeconds?: number }): void;
  verify(): void;
  stop(): Promise<void>;
}

export async function startFakeJira(options: FakeJiraOptions = {}): Promise<FakeJira> {
  const v = options.apiVersion ?? '3';
  const email = options.email ?? 'warden@example.com';
  const apiToken = options.apiToken ?? 'jira-api-token';
  const expectedAuth = options.bearer
    ? `Bearer ${options.bearer}`
    : `Basic ${Buffer.from(`${email}:${apiToken}`).toString('base64')}`;
  const projects = options.projects ?? ['OPS'];
  const issueTypes = options.issueTypes ?? ['Task', 'Change', 'Incident'];
  const linkTypes = options.linkTypes ?? ['Relates', 'Blocks'];
  const statuses = options.statuses ?? DEFAULT_STATUSES;
  const workflow = options.transitions ?? DEFAULT_TRANSITIONS;
  const now = () => (options.clock ? options.clock.now() : new Date());
  const server = await startStrictServer({ name: 'jira' });
  const issues = new Map<string, FakeJiraIssue>();
  let nextId = 10_000;
  let nextComment = 1;
  const counters = new Map<string, number>();
  let down: { until: Date; status: number; retryAfterSeconds?: number } | undefined;
  const base = `/rest/api/${v}`;

  function addIssue(input: {
    key?: string;
    summary?: string;
    status?: string;
    project?: string;
  }): FakeJiraIssue {
    const project = input.project ?? projects[0]!;
    const n = (counters.get(project) ?? 0) + 1;
    counters.set(project, n);
    const key = input.key ?? `${project}-${n}`;
    const issue: FakeJiraIssue = {
      id: String(nextId++),
      key,
      summary: input.summary ?? `Issue ${key}`,
      description: null,
      issueType: issueTypes[0]!,
      labels: [],
      fields: {},
      status: input.status ?? 'Open',
      comments: [],
      history: [],
      links: [],
      remoteLinks: [],
    };
    issues.set(key, issue);
    return issue;
  }

  /** Authentication and outages come before any route does anything. */
  function guarded(handler: RouteHandler): RouteHandler {
    return (req, params) => {
      if (down && now() < down.until) {
        return {
          status: down.status,
          headers: down.retryAfterSeconds ? { 'retry-after': String(down.retryAfterSeconds) } : {},
          body: jiraError(down.status, ['Jira is temporarily unavailable']).body,
        };
      }
      if (req.headers.authorization !== expectedAuth) {
        return jiraError(401, [
          'You are not authenticated. Authentication required to perform this operation.',
        ]);
      }
      return handler(req, params);
    };
  }

  function bodyIsValid(req: RecordedRequest, body: unknown, where: string): boolean {
    const ok = v === '3' ? isAdf(body) : typeof body === 'string';
    if (!ok) {
      server.recordViolation(
        'body_format',
        `${where} must be ${v === '3' ? 'an ADF document' : 'a plain string'} on API v${v}`,
        req,
      );
    }
    return ok;
  }

  const textOf = (body: unknown) => (v === '3' ? adfText(body) : String(body));
  const statusJson = (name: string) => ({ name, statusCategory: { key: statuses[name] ?? 'new' } });
  const found = (key: string | undefined) => (key ? issues.get(key) : undefined);
  const missing = () => jiraError(404, ['Issue does not exist or you do not have permission to see it.']);

  server.route(
    'GET',
    `${base}/issue/:key`,
    guarded((_req, { key }) => {
      const issue = found(key);
      if (!issue) return missing();
      return {
        body: {
          id: issue.id,
          key: issue.key,
          self: `${server.url}${base}/issue/${issue.id}`,
          fields: { summary: issue.summary, status: statusJson(issue.status) },
        },
      };
    }),
  );

  server.route(
    'POST',
    `${base}/issue`,
    guarded((req) => {
      const fields = ((req.body ?? {}) as { fields?: Record<string, unknown> }).fields ?? {};
      const errors: Record<string, string> = {};
      const project = (fields.project as { key?: string } | undefined)?.key;
      const type = (fields.issuetype as { name?: string } | undefined)?.name;
      if (!project || !projects.includes(project)) errors.project = 'valid project is required';
      if (!type || !issueTypes.includes(type)) errors.issuetype = 'valid issue type is required';
      const summary = fields.summary;
      if (typeof summary !== 'string' || summary === '')
        errors.summary = 'You must specify a summary of the issue.';
      else if (summary.length > 255 || /[\r\n]/.test(summary))
        errors.summary = 'Summary must be less than 255 characters and one line.';
      if (fields.description !== undefined && !bodyIsValid(req, fields.description, 'description')) {
        errors.description =
          'Operation value must be an Atlassian Document (see the Atlassian Document Format)';
      }
      const labels = fields.labels ?? [];
      if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string' || /\s/.test(l))) {
        errors.labels = 'Labels cannot contain spaces.';
      }
      if (Object.keys(errors).length > 0) return jiraError(400, [], errors);
      const issue = addIssue({ project: project!, summary: summary as string });
      const { project: _p, issuetype: _t, summary: _s, description, labels: _l, ...rest } = fields;
      Object.assign(issue, { description, issueType: type!, labels: labels as string[], fields: rest });
      return {
        status: 201,
        body: { id: issue.id, key: issue.key, self: `${server.url}${base}/issue/${issue.id}` },
      };
    }),
  );

  server.route(
    'GET',
    `${base}/issue/:key/comment`,
    guarded((req, { key }) => {
      const issue = found(key);
      if (!issue) return missing();
      const max = Math.min(Number(req.query.maxResults ?? 50) || 50, 100);
      const ordered = req.query.orderBy === '-created' ? [...issue.comments].reverse() : issue.comments;
      const page = ordered.slice(0, max);
      return {
        body: {
          startAt: 0,
          maxResults: max,
          total: issue.comments.length,
          comments: page.map((c) => ({ id: c.id, body: c.body, created: c.created })),
        },
      };
    }),
  );

  function addComment(issue: FakeJiraIssue, body: unknown): FakeJiraComment {
    const comment = { id: String(nextComment++), body, text: textOf(body), created: now().toISOString() };
    issue.comments.push(comment);
    return comment;
  }

  server.route(
    'POST',
    `${base}/issue/:key/comment`,
    guarded((req, { key }) => {
      const issue = found(key);
      if (!issue) return missing();
      const body = (req.body as { body?: unknown } | undefined)?.body;
      if (!bodyIsValid(req, body, 'comment body'))
        return jiraError(400, [], { comment: 'Comment body is not valid!' });
      const comment = addComment(issue, body);
      return { status: 201, body: { id: comment.id, body: comment.body, created: comment.created } };
    }),
  );

  const available = (issue: FakeJiraIssue) => workflow.filter((t) => t.from.includes(issue.status));

  server.route(
    'GET',
    `${base}/issue/:key/transitions`,
    guarded((_req, { key }) => {
      const issue = found(key);
      if (!issue) return missing();
      return {
        body: {
          transitions: available(issue).map((t) => ({ id: t.id, name: t.name, to: statusJson(t.to) })),
        },
      };
    }),
  );

  server.route(
    'POST',
    `${base}/issue/:key/transitions`,
    guarded((req, { key }) => {
      const issue = found(key);
      if (!issue) return missing();
      const body = (req.body ?? {}) as {
        transition?: { id?: string };
        update?: { comment?: { add?: { body?: unknown } }[] };
      };
      const transition = available(issue).find((t) => t.id === body.transition?.id);
      if (!transition) {
        return jiraError(400, [`Transition id '${body.transition?.id}' is not valid for this issue.`]);
      }
      const comments = body.update?.comment ?? [];
      for (const c of comments) {
        if (!bodyIsValid(req, c.add?.body, 'transition comment'))
          return jiraError(400, [], { comment: 'Comment body is not valid!' });
      }
      issue.status = transition.to;
      issue.history.push(transition.name);
      for (const c of comments) addComment(issue, c.add?.body);
      return { status: 204 };
    }),
  );

  server.route(
    'POST',
    `${base}/issueLink`,
    guarded((req) => {
      const body = (req.body ?? {}) as {
        type?: { name?: string };
        inwardIssue?: { key?: string };
        outwardIssue?: { key?: string };
      };
      const type = body.type?.name;
      if (!type || !linkTypes.includes(type))
        return jiraError(404, [`No issue link type with name '${type}' found.`]);
      const inward = found(body.inwardIssue?.key);
      const outward = found(body.outwardIssue?.key);
      if (!inward || !outward) return missing();
      inward.links.push({ type, inward: inward.key, outward: outward.key });
      return { status: 201 };
    }),
  );

  server.route(
    'POST',
    `${base}/issue/:key/remotelink`,
    guarded((req, { key }) => {
      const issue = found(key);
      if (!issue) return missing();
      const body = (req.body ?? {}) as { globalId?: string; object?: { url?: string; title?: string } };
      if (!body.object?.url || !body.object.title)
        return jiraError(400, [], { object: 'url and title are required' });
      const existing = issue.remoteLinks.find((l) => body.globalId && l.globalId === body.globalId);
      if (existing) {
        existing.url = body.object.url;
        return { status: 200, body: { id: 1, self: `${server.url}${base}/issue/${key}/remotelink/1` } };
      }
      issue.remoteLinks.push({ globalId: body.globalId ?? '', url: body.object.url });
      return {
        status: 201,
        body: { id: issue.remoteLinks.length, self: `${server.url}${base}/issue/${key}/remotelink` },
      };
    }),
  );

  // Cloud searches with /search/jql; Data Center with /search. Only the project + label query
  // Warden uses is understood; anything else is a violation.
  server.route(
    'GET',
    v === '3' ? `${base}/search/jql` : `${base}/search`,
    guarded((req) => {
      const match = /^project = "([^"\\]+)" AND labels = "([^"\\]+)"$/.exec(req.query.jql ?? '');
      if (!match) {
        server.recordViolation(
          'jql',
          `the fake does not understand the JQL ${JSON.stringify(req.query.jql)}`,
          req,
        );
        return jiraError(400, ['Error in the JQL Query']);
      }
      const [, project, label] = match;
      const hits = [...issues.values()].filter(
        (i) => i.key.startsWith(`${project}-`) && i.labels.includes(label!),
      );
      return {
        body: { issues: hits.map((i) => ({ id: i.id, key: i.key, fields: { summary: i.summary } })) },
      };
    }),
  );

  return {
    server,
    url: server.url,
    issues,
    addIssue,
    issue(key) {
      const issue = issues.get(key);
      if (!issue) throw new Error(`the Jira fake has no issue ${key}`);
      return issue;
    },
    outage(until, outageOptions = {}) {
      down = {
        until,
        status: outageOptions.status ?? 503,
        retryAfterSeconds: outageOptions.retryAfterSeconds,
      };
    },
    verify: () => server.verify(),
    stop: () => server.stop(),
  };
}
