import type { Queryable } from './db.js';

/**
 * One section of `projects.settings`, written atomically so two editors of different sections
 * never undo each other. A null value removes the section (its defaults apply again).
 */
export async function setProjectSettingsSection(
  sql: Queryable,
  projectId: number,
  section: string,
  value: Record<string, unknown> | null,
  at: Date,
): Promise<void> {
  if (value === null) {
    await sql`
      update projects set settings = coalesce(settings, '{}'::jsonb) - ${section}::text, updated_at = ${at}
      where id = ${projectId}`;
    return;
  }
  await sql`
    update projects
    set settings = coalesce(settings, '{}'::jsonb) || jsonb_build_object(${section}::text, ${sql.json(value as never)}::jsonb),
        updated_at = ${at}
    where id = ${projectId}`;
}

/** The stored settings, read under a row lock so the old value on the trail is the one replaced. */
export async function lockProjectSettings(
  sql: Queryable,
  projectId: number,
): Promise<Record<string, unknown> | undefined> {
  const [row] = await sql<{ settings: Record<string, unknown> | null }[]>`
    select settings from projects where id = ${projectId} for update`;
  return row ? (row.settings ?? {}) : undefined;
}
