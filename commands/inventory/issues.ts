import type { z } from 'zod';

/**
 * One problem with a caller's input, located precisely enough to fix it: `path` for machines
 * (`servers[3].name`), and for list entries the `section`, `index` and `field` separately, so an
 * import can report every bad entry at once.
 */
export interface InputIssue {
  path: string;
  message: string;
  section?: string;
  index?: number;
  field?: string;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** An issue at `path`; when the path runs through a list entry, name the entry and its field. */
export function issueAt(path: readonly PropertyKey[], message: string): InputIssue {
  const issue: InputIssue = { path: formatPath(path), message };
  const at = path.findIndex((p) => typeof p === 'number');
  if (at > 0) {
    issue.section = formatPath(path.slice(0, at));
    issue.index = path[at] as number;
    const rest = path.slice(at + 1);
    if (rest.length > 0) issue.field = formatPath(rest);
  }
  return issue;
}

/** Zod's issues as InputIssues, each under `base` (e.g. ['servers', 3] when parsing one entry). */
export function issuesFromZod(
  issues: readonly z.core.$ZodIssue[],
  base: readonly PropertyKey[] = [],
): InputIssue[] {
  const out: InputIssue[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      // One issue per unknown key, so each points at its own field.
      for (const key of issue.keys) out.push(issueAt([...path, key], `unknown field "${key}"`));
    } else {
      out.push(issueAt(path, issue.message));
    }
  }
  return out;
}

/** "servers[3].name: a server name is …; projects[0].slug: …" (the first few), for a message. */
export function summarizeIssues(issues: readonly InputIssue[], max = 3): string {
  const shown = issues.slice(0, max).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  const more = issues.length > max ? `; and ${issues.length - max} more (see details.issues)` : '';
  return shown.join('; ') + more;
}
