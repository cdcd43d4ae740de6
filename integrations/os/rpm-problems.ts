import { excerpt, problem } from './text.js';
import type { CommandOutput, ScanProblem } from './types.js';

const LOCK_PATTERNS = [
  /Waiting for process with pid (\d+) to finish/,
  /Another app is currently holding the yum lock/,
  /can't create transaction lock on (\S+)/,
  /There was a problem with acquiring or releasing of locks/,
];

const RPMDB_PATTERNS = [
  /rpmdb open failed/,
  /DB_RUNRECOVERY/,
  /BDB\d{4,5} /,
  /error: rpmdb: /,
  /Error: Error opening rpmdb|cannot open Packages (index|database)/,
];

const REPO_PATTERNS = [
  /Failed to download metadata for repo '([^']{1,100})'/,
  /Errors during downloading metadata for repository '([^']{1,100})'/,
  /Cannot find a valid baseurl for repo: (\S{1,100})/,
  /Could not retrieve mirrorlist (\S{1,200})/,
  /One of the configured repositories failed/,
  /Failed to synchronize cache for repo '([^']{1,100})'/,
  /Cannot download repomd\.xml/,
  /Curl error \(\d+\)/,
  /Ignoring repositories: ([^\n]{1,200})/,
];

/**
 * Problems dnf, yum and rpm report: a held lock (retry later), a damaged rpm database (a human
 * rebuilds it), unreachable repositories (stale or missing results). `failed` says whether the
 * command itself failed, which turns unreachable repositories from a warning into an error.
 */
export function detectRpmProblems(output: CommandOutput, commandId: string, failed: boolean): ScanProblem[] {
  const text = `${output.stderr}\n${output.stdout}`.slice(0, 200_000);
  const problems: ScanProblem[] = [];
  if (output.exitCode === 200 || LOCK_PATTERNS.some((pattern) => pattern.test(text))) {
    const pid = /pid (\d+)/.exec(text)?.[1];
    problems.push(
      problem(
        'lock_held',
        failed ? 'error' : 'warning',
        'Another package operation holds the rpm/dnf/yum lock' +
          `${pid ? ` (process ${pid})` : ''}. This is usually an automatic update (dnf-automatic, ` +
          'yum-cron, PackageKit); the scan will be retried with backoff.',
        { commandId, retryable: true, retryAfterSeconds: 15 },
      ),
    );
  }
  if (RPMDB_PATTERNS.some((pattern) => pattern.test(text))) {
    problems.push(
      problem(
        'rpmdb_broken',
        'error',
        'The rpm database could not be opened or is damaged. Run `sudo rpm --rebuilddb` on the server ' +
          '(after making sure no package operation is running), then scan again.',
        { commandId, fix: 'rpm --rebuilddb' },
      ),
    );
  }
  const repo = REPO_PATTERNS.map((pattern) => pattern.exec(text)).find((match) => match !== null);
  if (repo) {
    problems.push(
      problem(
        'repos_unreachable',
        failed ? 'error' : 'warning',
        `A repository could not be reached ("${excerpt(repo[0], 200)}"), so ` +
          `${failed ? 'no updates could be listed' : 'the findings may be stale or incomplete'}. ` +
          "Check the server's network, proxy and repository configuration, then scan again.",
        { commandId, retryable: true, retryAfterSeconds: 300 },
      ),
    );
  }
  return problems;
}
