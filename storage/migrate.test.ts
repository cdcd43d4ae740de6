import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  getCreateIndexesSQL,
  getCreateLogsIndexesSQL,
  getCreateLogsTableSQL,
  getCreateTableSQL,
} from '@agendajs/postgres-backend';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../test/db.js';
import { MIGRATIONS_DIR, migrate } from './migrate.js';

const db = useTestDatabase('migrate');

describe('migrations', () => {
  it('creates every foundation table', async () => {
    const rows = await db.current.sql<{ table_name: string }[]>`
      select table_name from information_schema.tables
      where table_schema = current_schema() order by table_name`;
    const names = rows.map((r) => r.table_name);
    for (const t of [
      'users',
      'identities',
      'accounts',
      'projects',
      'servers',
      'role_bindings',
      'api_tokens',
      'audit_events',
      'audit_head',
      'outbox',
      'approval_requests',
      'approval_decisions',
      'agenda_jobs',
      'agenda_logs',
    ]) {
      expect(names).toContain(t);
    }
  });

  it('is a no-op when run again, as a second replica starting would', async () => {
    expect(await migrate(db.current.target)).toEqual([]);
  });

  it('keeps the agenda tables identical to the backend version installed', () => {
    const file = readFileSync(path.join(MIGRATIONS_DIR, '1700000000002_agenda.sql'), 'utf8');
    const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
    const flat = squash(file);
    for (const stmt of [
      getCreateTableSQL('agenda_jobs'),
      ...getCreateIndexesSQL('agenda_jobs'),
      getCreateLogsTableSQL('agenda_logs'),
      ...getCreateLogsIndexesSQL('agenda_logs'),
    ]) {
      expect(flat).toContain(squash(stmt));
    }
  });
});
