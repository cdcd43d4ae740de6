import { z } from 'zod';

/** What Jira's REST API (v2 and v3) sends back, as far as Warden reads it. Unknown fields pass. */

export const JiraStatus = z.object({
  name: z.string(),
  statusCategory: z.object({ key: z.string() }).optional(),
});
export type JiraStatus = z.infer<typeof JiraStatus>;

export const JiraIssue = z.object({
  id: z.string(),
  key: z.string(),
  fields: z.object({
    summary: z.string().nullish(),
    status: JiraStatus,
  }),
});
export type JiraIssue = z.infer<typeof JiraIssue>;

export const JiraCreatedIssue = z.object({ id: z.string(), key: z.string() });
export type JiraCreatedIssue = z.infer<typeof JiraCreatedIssue>;

export const JiraComment = z.object({ id: z.string(), body: z.unknown() });
export type JiraComment = z.infer<typeof JiraComment>;

export const JiraCommentPage = z.object({
  comments: z.array(JiraComment),
  total: z.number().optional(),
});
export type JiraCommentPage = z.infer<typeof JiraCommentPage>;

export const JiraTransitions = z.object({
  transitions: z.array(z.object({ id: z.string(), name: z.string(), to: JiraStatus })),
});
export type JiraTransitions = z.infer<typeof JiraTransitions>;

export const JiraSearch = z.object({ issues: z.array(z.object({ key: z.string() })) });
export type JiraSearch = z.infer<typeof JiraSearch>;

/** Jira's documented error body. */
export const JiraErrorBody = z.object({
  errorMessages: z.array(z.string()).optional(),
  errors: z.record(z.string(), z.string()).optional(),
});
export type JiraErrorBody = z.infer<typeof JiraErrorBody>;

/** A webhook delivery (jira:issue_updated, jira:issue_deleted, …): only what the inbound route reads. */
export const JiraWebhook = z.object({
  webhookEvent: z.string(),
  timestamp: z.number().optional(),
  user: z.object({ displayName: z.string().optional(), accountId: z.string().optional() }).nullish(),
  issue: z
    .object({
      id: z.string().optional(),
      key: z.string(),
      fields: z.object({ status: JiraStatus.optional() }).optional(),
    })
    .optional(),
  changelog: z
    .object({
      id: z.string().optional(),
      items: z.array(
        z.object({
          field: z.string(),
          fromString: z.string().nullish(),
          toString: z.string().nullish(),
        }),
      ),
    })
    .optional(),
});
export type JiraWebhook = z.infer<typeof JiraWebhook>;
