import { beforeAll, describe, expect, it } from 'vitest';
import { createProjectRow } from '../commands/approvals/testing.js';
import { useTestDatabase } from '../test/db.js';
import { lastProjectScanStarts } from './scans.js';

const db = useTestDatabase('scan-starts');
const ids: Record<string, number> = {};

async function batch(project: string, kind: 'project' | 'server', at: string) {
  await db.current.sql`
    insert into scan_batches (scope_kind, scope_value, project_id, server_ids, total, triggered_by,
                              requested_ref, started_at, heartbeat_at)
    values (${kind}, ${project}, ${ids[project]!}, '{}', 1, 'schedule', 'job:scan-due', ${new Date(at)}, ${new Date(at)})`;
}

beforeAll(async () => {
  for (const slug of ['shop', 'billing', 'quiet'])
    ids[slug] = (await createProjectRow(db.current.sql, slug)).id;
  await batch('shop', 'project', '2026-01-01T09:00:00Z');
  await batch('shop', 'project', '2026-01-03T09:00:00Z');
  // A one-server scan is not a scan of the project as a whole.
  await batch('shop', 'server', '2026-01-04T09:00:00Z');
  await batch('billing', 'project', '2026-01-02T09:00:00Z');
});

describe('lastProjectScanStarts', () => {
  it('gives the latest whole-project batch of each project asked about, and nothing for the others', async () => {
    const starts = await lastProjectScanStarts(db.current.sql, [ids.shop!, ids.quiet!]);
    expect([...starts.entries()]).toEqual([[ids.shop!, new Date('2026-01-03T09:00:00Z')]]);
  });

  it('answers each project on its own', async () => {
    const starts = await lastProjectScanStarts(db.current.sql, [ids.billing!]);
    expect(starts.get(ids.billing!)).toEqual(new Date('2026-01-02T09:00:00Z'));
    expect(starts.has(ids.shop!)).toBe(false);
  });

  it('asks nothing for no projects', async () => {
    expect((await lastProjectScanStarts(db.current.sql, [])).size).toBe(0);
  });
});
