import { z } from 'zod';
import { PROVIDERS } from '../../storage/inventory.js';

/**
 * What inventory input may look like. Server names, addresses, users and host keys later reach
 * SSH command lines and config, so they are held to strict patterns here, once, for every door
 * (REST, import, chat): no spaces, no shell metacharacters, nothing that starts with a dash.
 */

export const SERVER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** RFC 1123 host names: dot-separated labels of letters, digits and inner dashes. */
const HOSTNAME_PATTERN =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const NO_CONTROL_CHARS = /^[^\p{Cc}]*$/u;

export const ProjectSlug = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    'a project slug is 1–63 lowercase letters, digits or dashes, starting with a letter or digit',
  );

export const ServerName = z
  .string()
  .regex(
    SERVER_NAME_PATTERN,
    'a server name is 1–128 letters, digits, dots, dashes or underscores, starting with a letter or digit',
  );

export const Address = z.union([z.ipv4(), z.ipv6(), z.string().regex(HOSTNAME_PATTERN)], {
  error: 'an address is a host name (like web-01.example.com) or an IPv4/IPv6 address, with no spaces',
});

export const UserHandle = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,63}$/,
    'a user handle is lowercase letters, digits, dots, dashes or underscores',
  );

export const AccountName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    'an account name is letters, digits, dots, dashes or underscores',
  );

/** Cloud ids: `i-0abc…`, Azure resource ids (with slashes), GCP self links. */
export const ProviderId = z
  .string()
  .regex(
    /^[A-Za-z0-9/][A-Za-z0-9._:/@+=-]{0,511}$/,
    'a provider id is letters, digits and . _ : / @ + = - only (no spaces)',
  );

function text(max: number, what: string) {
  return z
    .string()
    .max(max, `${what} is at most ${max} characters`)
    .regex(NO_CONTROL_CHARS, `${what} may not contain control characters or newlines`);
}

export const Tags = z
  .record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/, 'a tag key is letters, digits and . _ / - only'),
    text(256, 'a tag value'),
  )
  .refine((t) => Object.keys(t).length <= 50, 'a server has at most 50 tags');

export const OsInfo = z
  .record(
    z.string().regex(/^[a-z][A-Za-z0-9_]{0,31}$/, 'an os key is a short identifier'),
    text(100, 'an os value'),
  )
  .refine((o) => Object.keys(o).length <= 20, 'at most 20 os facts');

/** How Warden reaches a server over SSH. Every field ends up in an SSH invocation. */
export const Connection = z
  .object({
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a login user is a POSIX user name (lowercase, digits, _ and -)')
      .optional(),
    sudo: z.boolean().optional(),
    trustOnFirstUse: z
      .boolean()
      .optional()
      .describe('accept and pin the host key seen on first contact (default true)'),
    jump: ServerName.optional().describe('the name of another server to jump through'),
    hostKey: z
      .string()
      .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'a host key is an OpenSSH SHA256 fingerprint (SHA256:…)')
      .optional(),
  })
  .strict();

export const Channels = z
  .object({
    console: text(200, 'a channel').optional(),
    slack: z
      .string()
      .regex(/^[A-Z0-9]{1,32}$/, 'a Slack channel is its id, like C0123ABCD')
      .optional(),
    teams: z
      .string()
      .regex(/^[A-Za-z0-9:@._-]{1,200}$/, 'a Teams channel is its conversation id, like 19:…@thread.tacv2')
      .optional(),
  })
  .strict();

export const ProjectCreate = z
  .object({
    slug: ProjectSlug,
    name: text(200, 'a project name').min(1, 'a project needs a name'),
    description: text(2000, 'a description').optional(),
    channels: Channels.optional(),
  })
  .strict();
export type ProjectCreate = z.infer<typeof ProjectCreate>;

export const ProjectPatch = ProjectCreate.omit({ slug: true }).partial().strict();
export type ProjectPatch = z.infer<typeof ProjectPatch>;

const serverFields = {
  project: ProjectSlug.nullable().optional().describe('the project slug; null for none'),
  provider: z.enum(PROVIDERS).optional(),
  providerId: ProviderId.nullable().optional(),
  account: AccountName.nullable().optional().describe('the name of an existing account'),
  address: Address.nullable().optional(),
  port: z.int().min(1).max(65535).nullable().optional(),
  os: OsInfo.optional(),
  tags: Tags.optional(),
  owner: UserHandle.nullable().optional().describe('the handle of the user who looks after it'),
  connection: Connection.optional(),
};

/** A server as written by a caller; unset fields get defaults on create and stay as they are on update. */
export const ServerCreate = z.object({ name: ServerName, ...serverFields }).strict();
export type ServerCreate = z.infer<typeof ServerCreate>;

export const ServerPatch = z.object({ name: ServerName.optional(), ...serverFields }).strict();
export type ServerPatch = z.infer<typeof ServerPatch>;

export const MAX_IMPORT_PROJECTS = 1_000;
export const MAX_IMPORT_SERVERS = 10_000;

export const ImportDocument = z
  .object({
    projects: z.array(ProjectCreate).max(MAX_IMPORT_PROJECTS).optional(),
    servers: z.array(ServerCreate).max(MAX_IMPORT_SERVERS).optional(),
  })
  .strict();
export type ImportDocument = z.infer<typeof ImportDocument>;
