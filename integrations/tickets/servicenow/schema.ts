import { z } from 'zod';

/**
 * What ServiceNow's Table API and OAuth endpoint send back, as far as Warden reads it. The Table
 * API sends every value as a string by default ("-5", "true"); numbers and booleans are accepted
 * too and turned into strings, so both spellings read the same.
 */
const text = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

export const ServiceNowRecord = z.object({
  sys_id: z.string().regex(/^[0-9a-f]{32}$/, 'sys_id must be 32 hex characters'),
  number: z.string(),
  state: text.optional(),
  short_description: z.string().nullish(),
  active: text.optional(),
});
export type ServiceNowRecord = z.infer<typeof ServiceNowRecord>;

/** The `{ result: … }` envelope of every Table API answer. */
export const ServiceNowList = z.object({ result: z.array(ServiceNowRecord) });
export type ServiceNowList = z.infer<typeof ServiceNowList>;

export const ServiceNowOne = z.object({ result: ServiceNowRecord });
export type ServiceNowOne = z.infer<typeof ServiceNowOne>;

export const ServiceNowIds = z.object({ result: z.array(z.object({ sys_id: z.string() })) });
export type ServiceNowIds = z.infer<typeof ServiceNowIds>;

/** The documented error body: `{ error: { message, detail }, status: 'failure' }`. */
export const ServiceNowErrorBody = z.object({
  error: z.object({ message: z.string().nullish(), detail: z.string().nullish() }),
  status: z.string().optional(),
});
export type ServiceNowErrorBody = z.infer<typeof ServiceNowErrorBody>;

/** POST /oauth_token.do. */
export const ServiceNowToken = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
  token_type: z.string().optional(),
});
export type ServiceNowToken = z.infer<typeof ServiceNowToken>;

/**
 * What the business rule in servicenow/README.md posts to /hooks/servicenow when a change or
 * incident moves: the record's number, table, state, approval and sys_mod_count (which makes
 * each update's delivery unique).
 */
export const ServiceNowCallback = z.object({
  number: z.string().min(1).max(40),
  table: z.string().max(80).optional(),
  state: text.optional(),
  approval: z.string().max(40).nullish(),
  active: text.optional(),
  sys_mod_count: text.optional(),
  updated_by: z.string().max(200).nullish(),
});
export type ServiceNowCallback = z.infer<typeof ServiceNowCallback>;
