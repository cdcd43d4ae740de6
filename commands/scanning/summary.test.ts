import { describe, expect, it } from 'vitest';
import type { CountRow, OpenFindingWithServer } from '../../storage/findings.js';
import type { ScanCounts } from '../../storage/scans.js';
import { progressReply, type ServerOutcome, summaryReply } from './summary.js';

const counts = (firstScan: boolean, newSecurity: number): ScanCounts => ({
  total: 0,
  security: 0,
  critical: 0,
  new: newSecurity,
  newSecurity,
  resolved: 0,
  resolvedSecurity: 0,
  firstScan,
  byClassification: {},
  bySeverity: {},
});

// A project of four servers: two rescanned, one scanned for the first time, one unreachable.
const outcomes: ServerOutcome[] = [
  {
    serverId: 1,
    serverName: 'web-1',
    projectId: 7,
    scanId: 11,
    status: 'succeeded',
    counts: counts(false, 2),
  },
  {
    serverId: 2,
    serverName: 'web-2',
    projectId: 7,
    scanId: 12,
    status: 'succeeded',
    counts: counts(false, 0),
  },
  {
    serverId: 3,
    serverName: 'new-1',
    projectId: 7,
    scanId: 13,
    status: 'succeeded',
    counts: counts(true, 5),
  },
  {
    serverId: 4,
    serverName: 'db-1',
    projectId: 7,
    scanId: 14,
    status: 'failed',
    errorKind: 'unreachable',
    errorMessage: 'Could not reach 10.0.0.4:22 over SSH (ECONNREFUSED).',
  },
];

const rows: CountRow[] = [
  { projectId: 7, classification: 'security', severity: 'critical', count: 1 },
  { projectId: 7, classification: 'security', severity: 'important', count: 6 },
  { projectId: 7, classification: 'bugfix', severity: 'moderate', count: 3 },
  { projectId: 7, classification: 'other', severity: 'unknown', count: 40 },
];

function newFinding(
  server: string,
  pkg: string,
  severity: OpenFindingWithServer['severity'],
  cves: string[],
) {
  const at = new Date('2026-01-05T09:00:00Z');
  return {
    serverId: 1,
    serverName: server,
    projectId: 7,
    projectSlug: 'shop',
    package: pkg,
    arch: 'amd64',
    installedVersion: '1.0',
    candidateVersion: '1.1',
    classification: 'security',
    severity,
    cves,
    advisories: [],
    source: 'Debian-Security:12/stable-security',
    rebootRequired: false,
    firstSeenAt: at,
    lastSeenAt: at,
    firstScanId: 11,
    lastScanId: 11,
  } satisfies OpenFindingWithServer;
}

describe('scan summary', () => {
  it('counts by classification and severity, lists new security updates and the hosts not scanned', () => {
    const reply = summaryReply({
      batchId: 3,
      projectLabel: 'project shop',
      outcomes,
      counts: rows,
      newSecurity: [
        newFinding('web-1', 'openssl', 'critical', ['CVE-2024-0001', 'CVE-2024-0002']),
        newFinding('web-1', 'zlib', 'important', []),
      ],
      newSecurityTotal: 2,
    });
    expect(reply.header).toBe('Scan summary: project shop');
    expect(reply.fields).toEqual([
      { label: 'Servers', value: '3 of 4 scanned, 1 failed' },
      { label: 'Pending updates', value: '50 (security 7 · bugfix 3 · enhancement 0 · other 40)' },
      { label: 'By severity', value: 'critical 1 · important 6 · moderate 3 · low 0 · unknown 40' },
      {
        label: 'New security updates since last scan',
        value: '2 (plus 1 server scanned for the first time)',
      },
    ]);
    expect(reply.items).toEqual([
      { text: 'New security updates' },
      { text: 'web-1: openssl 1.0 → 1.1', detail: 'critical · CVE-2024-0001, CVE-2024-0002' },
      { text: 'web-1: zlib 1.0 → 1.1', detail: 'important' },
      { text: 'Not scanned (their last good results are kept)' },
      { text: 'db-1: unreachable', detail: 'Could not reach 10.0.0.4:22 over SSH (ECONNREFUSED).' },
    ]);
    expect(reply.tone).toBe('warning');
  });

  it('says all is well when every host was scanned and nothing new is pending', () => {
    const reply = summaryReply({
      batchId: 4,
      projectLabel: 'project shop',
      outcomes: outcomes.slice(1, 2),
      counts: [],
      newSecurity: [],
      newSecurityTotal: 0,
    });
    expect(reply.tone).toBe('success');
    expect(reply.items).toBeUndefined();
    expect(reply.fields?.[1]).toEqual({
      label: 'Pending updates',
      value: '0 (security 0 · bugfix 0 · enhancement 0 · other 0)',
    });
  });

  it('renders progress as "done/total, failed" and an interrupted batch with what to type next', () => {
    const base = {
      batchId: 9,
      scopeLabel: 'project shop',
      scopeArg: 'shop',
      requestedBy: 'alice',
      total: 200,
    };
    expect(progressReply({ ...base, done: 120, failed: 3, state: 'running' })).toMatchObject({
      header: 'Scanning 200 servers (project shop)…',
      text: '120/200 done, 3 failed',
    });
    expect(progressReply({ ...base, done: 120, failed: 3, state: 'interrupted' }).text).toMatch(
      /^120\/200 done, 3 failed when Warden stopped; .* Run `scan shop` again\.$/,
    );
  });
});
