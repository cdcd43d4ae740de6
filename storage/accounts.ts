import type { Queryable } from './db.js';

/**
 * Accounts: an AWS account and region, an Azure subscription, an SSH "datacentre". The
 * non-secret settings live in `config`; credentials only ever as a vault envelope in
 * `sealed_credentials`, which no listing here returns.
 */
export interface AccountSummary {
  id: number;
  name: string;
  provider: string;
  config: Record<string, unknown>;
  hasCredentials: boolean;
  serverCount: number;
  createdAt: Date;
}

export interface AccountInsert {
  name: string;
  provider: string;
  config: Record<string, unknown>;
  sealedCredentials: string | null;
  at: Date;
}

export async function insertAccount(sql: Queryable, input: AccountInsert): Promise<AccountSummary> {
  const [row] = await sql<AccountSummary[]>`
    insert into accounts (name, provider, config, sealed_credentials, created_at)
    values (${input.name}, ${input.provider}, ${sql.json(input.config as never)}, ${input.sealedCredentials},
            ${input.at})
    returning id, name, provider, config, sealed_credentials is not null as "hasCredentials",
              0 as "serverCount", created_at as "createdAt"`;
  return row!;
}

export async function accountNameTaken(sql: Queryable, name: string): Promise<boolean> {
  const rows = await sql`select 1 from accounts where lower(name) = lower(${name})`;
  return rows.length > 0;
}

/** Every account with how many servers it holds; never the credentials. */
export async function listAccountSummaries(sql: Queryable): Promise<AccountSummary[]> {
  return sql<AccountSummary[]>`
    select a.id, a.name, a.provider, a.config, a.sealed_credentials is not null as "hasCredentials",
           (select count(*)::int from servers s where s.account_id = a.id) as "serverCount",
           a.created_at as "createdAt"
    from accounts a
    order by a.name`;
}
