import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { AppError, isAppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import type { Deps } from '../deps.js';
import type { CallMeta } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { normalizeDefinition, type ScriptDefinition } from './definition.js';
import { saveScriptVersion } from './versions.js';

/**
 * Import from a folder (a checkout of the team's scripts repository): every `.sh`, `.bash` and
 * `.ps1` file carries its definition in a leading comment block of YAML front matter:
 *
 *     #!/usr/bin/env bash
 *     # ---
 *     # name: restart-service
 *     # description: Restart a systemd unit and show its status
 *     # params:
 *     #   - { name: unit, type: string, pattern: '[A-Za-z0-9@._-]+' }
 *     # os: [linux]
 *     # risk: low
 *     # timeout: 2m
 *     # permission: sop:run:restart-service
 *     # ---
 *     systemctl restart -- "$WARDEN_PARAM_UNIT"
 *
 * PowerShell files may use a block comment instead: `<#`, `---`, the YAML, `---`, `#>`.
 * The import is all or nothing: every file is checked first, and one bad file refuses the lot.
 * An unchanged file makes no version, so importing the same checkout twice changes nothing.
 */
export interface ScriptFile {
  /** Relative to the folder; shown in errors and kept as the version's source. */
  path: string;
  content: string;
}

export interface ImportResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  /** Reviews opened for new high-risk versions. */
  approvals: number[];
}

export const MAX_IMPORT_FILES = 1_000;
const SCRIPT_EXTENSIONS = new Set(['.sh', '.bash', '.ps1']);
const MAX_FILE_BYTES = 300 * 1024;

function fileError(file: string, message: string): AppError {
  return new AppError('bad_request', `${file}: ${message}`, {
    details: { issues: [{ path: file, message }] },
  });
}

/** Split a file into its front matter (YAML text) and its body. */
function splitFrontMatter(file: ScriptFile): { yaml: string; body: string } {
  const lines = file.content.replace(/\r\n/g, '\n').split('\n');
  const shebang = lines[0]?.startsWith('#!') ? [lines.shift()!] : [];
  while (lines.length > 0 && lines[0]!.trim() === '') lines.shift();
  const first = lines[0]?.trim();
  const yaml: string[] = [];
  let end = -1;
  if (first === '# ---' || first === '#---') {
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (/^#\s*---\s*$/.test(line)) {
        end = i;
        break;
      }
      if (!line.startsWith('#')) break;
      yaml.push(line.replace(/^# ?/, ''));
    }
  } else if (first === '<#') {
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim() === '#>') {
        end = i;
        break;
      }
      if (line.trim() !== '---') yaml.push(line);
    }
  }
  if (end < 0) {
    throw fileError(
      file.path,
      'has no front matter: start it with a `# ---` comment block holding name, description, params, os, risk, timeout and permission, closed by `# ---`',
    );
  }
  return { yaml: yaml.join('\n'), body: [...shebang, ...lines.slice(end + 1)].join('\n') };
}

function languageOf(file: ScriptFile, body: string): 'bash' | 'sh' | 'powershell' {
  if (path.extname(file.path).toLowerCase() === '.ps1') return 'powershell';
  return /^#!\s*(\/usr)?\/bin\/(env\s+)?sh\b/.test(body) ? 'sh' : 'bash';
}

/** One file as a checked definition; throws `bad_request` naming the file and what is wrong. */
export function parseScriptFile(file: ScriptFile): ScriptDefinition {
  if (Buffer.byteLength(file.content) > MAX_FILE_BYTES)
    throw fileError(file.path, `is larger than ${MAX_FILE_BYTES / 1024} KB`);
  const { yaml, body } = splitFrontMatter(file);
  const doc = parseDocument(yaml, { schema: 'core', uniqueKeys: true, merge: false });
  if (doc.errors.length > 0)
    throw fileError(file.path, `the front matter is not valid YAML: ${doc.errors[0]!.message}`);
  const header = doc.toJS({ maxAliasCount: 20 }) as unknown;
  if (!header || typeof header !== 'object' || Array.isArray(header)) {
    throw fileError(file.path, 'the front matter must be a YAML mapping (name: …, description: …)');
  }
  const fallbackName = path
    .basename(file.path)
    .replace(/\.[^.]+$/, '')
    .toLowerCase();
  try {
    return normalizeDefinition({ name: fallbackName, language: languageOf(file, body), ...header, body });
  } catch (error) {
    if (isAppError(error)) throw fileError(file.path, error.message);
    throw error;
  }
}

/**
 * Import scripts (sop:manage, globally). Each changed file becomes a new version authored by the
 * caller, with `import:<path>` as its source; all of it in one transaction.
 */
export async function importScripts(
  deps: Deps,
  actor: Actor,
  files: readonly ScriptFile[],
  meta: CallMeta = {},
): Promise<ImportResult> {
  authorize(actor, 'sop:manage', null);
  if (files.length === 0)
    throw new AppError('bad_request', 'there are no script files to import (.sh, .bash or .ps1)');
  if (files.length > MAX_IMPORT_FILES)
    throw new AppError('bad_request', `import at most ${MAX_IMPORT_FILES} files at once`);
  const parsed: { file: ScriptFile; definition: ScriptDefinition }[] = [];
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    try {
      const definition = parseScriptFile(file);
      const other = seen.get(definition.name);
      if (other) throw fileError(file.path, `defines ${definition.name}, which ${other} defines too`);
      seen.set(definition.name, file.path);
      parsed.push({ file, definition });
    } catch (error) {
      if (!isAppError(error)) throw error;
      problems.push(error.message);
    }
  }
  if (problems.length > 0) {
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
    throw new AppError('bad_request', `nothing was imported: ${problems.slice(0, 5).join('; ')}${more}`, {
      details: { issues: problems.map((message) => ({ path: message.split(':')[0], message })) },
    });
  }
  const result: ImportResult = { created: [], updated: [], unchanged: [], approvals: [] };
  await withTx(deps.sql, async (tx) => {
    for (const { file, definition } of parsed) {
      const saved = await saveScriptVersion(tx, deps, {
        actor,
        definition,
        source: `import:${file.path}`.slice(0, 300),
        ...(meta.requestId ? { requestId: meta.requestId } : {}),
      });
      const bucket = !saved.changed
        ? result.unchanged
        : saved.version.version === 1
          ? result.created
          : result.updated;
      bucket.push(definition.name);
      if (saved.approvalId) result.approvals.push(saved.approvalId);
    }
  });
  deps.kickOutbox?.();
  return result;
}

/** Every script file under `dir` (hidden folders such as .git skipped), with paths relative to it. */
export async function readScriptFolder(dir: string): Promise<ScriptFile[]> {
  const root = path.resolve(dir);
  if (!(await stat(root).catch(() => undefined))?.isDirectory()) {
    throw new AppError('not_found', `${dir} is not a folder; give the path of a checkout of your scripts`);
  }
  const files: ScriptFile[] = [];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile() || !SCRIPT_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) continue;
    const full = path.join(entry.parentPath, entry.name);
    const rel = path.relative(root, full);
    if (rel.split(path.sep).some((part) => part.startsWith('.'))) continue;
    if (files.length >= MAX_IMPORT_FILES)
      throw new AppError('bad_request', `${dir} has more than ${MAX_IMPORT_FILES} script files`);
    files.push({ path: rel.split(path.sep).join('/'), content: await readFile(full, 'utf8') });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** Import a folder on this machine (the CLI). */
export async function importScriptFolder(deps: Deps, actor: Actor, dir: string): Promise<ImportResult> {
  return importScripts(deps, actor, await readScriptFolder(dir));
}
