import type { Notification } from '../../bot/chat/model.js';
import { countOpenFindings, newSecurityFindings } from '../../storage/findings.js';
import { projectSlugsByIds, type ScanBatch } from '../../storage/scans.js';
import type { Deps } from '../deps.js';
import { type ServerOutcome, summaryReply } from './summary.js';

const NEW_LIST_LIMIT = 10;

/** One 'channel-post' per project the batch touched, with that project's summary. */
export async function projectSummaries(
  deps: Deps,
  batch: ScanBatch,
  outcomes: readonly ServerOutcome[],
): Promise<Notification[]> {
  const byProject = new Map<number | null, ServerOutcome[]>();
  for (const o of outcomes) {
    // A server removed before it was scanned has no project to report to.
    if (o.removed) continue;
    const list = byProject.get(o.projectId) ?? [];
    list.push(o);
    byProject.set(o.projectId, list);
  }
  const slugs = await projectSlugsByIds(
    deps.sql,
    [...byProject.keys()].filter((id): id is number => id !== null),
  );
  const notifications: Notification[] = [];
  for (const [projectId, list] of byProject) {
    const succeeded = list.filter((o) => o.status === 'succeeded');
    const counts = await countOpenFindings(
      deps.sql,
      succeeded.map((o) => o.serverId),
    );
    // On a server's first scan everything is "new": only servers seen before report new updates.
    const rescanned = succeeded.filter((o) => o.counts && !o.counts.firstScan && o.scanId !== null);
    const newSecurityTotal = rescanned.reduce((n, o) => n + (o.counts?.newSecurity ?? 0), 0);
    const newSecurity = await newSecurityFindings(
      deps.sql,
      rescanned.map((o) => o.scanId!),
      NEW_LIST_LIMIT,
    );
    notifications.push({
      kind: 'channel-post',
      projectId,
      reply: summaryReply({
        batchId: batch.id,
        projectLabel:
          projectId === null ? 'servers in no project' : `project ${slugs.get(projectId) ?? projectId}`,
        outcomes: list,
        counts,
        newSecurity,
        newSecurityTotal,
      }),
    });
  }
  return notifications;
}
