import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, csvRows, parseCsv, toCsv } from './report-csv.js';
import type { AuditReport } from './report-types.js';

const at = new Date('2026-01-05T09:00:00Z');

/** A report whose text comes from servers an attacker controls. */
const hostile: AuditReport = {
  generatedAt: at,
  since: at,
  scope: { project: 'prod', server: null },
  servers: [
    {
      name: 'web-1',
      project: 'prod',
      owner: 'carol',
      collected: true,
      gaps: ['could not read /home/x, "quoted"'],
    },
  ],
  commands: [
    {
      at,
      server: 'web-1',
      command: 'sh (audit accounts)',
      for: 'user:alice',
      source: 'trail',
      ref: '#7 audit.report.collected',
    },
  ],
  logins: [],
  accounts: [
    {
      server: 'web-1',
      user: "=cmd|' /C calc'!A0",
      uid: 1005,
      shell: '/bin/sh',
      home: '/home/x',
      known: false,
      note: 'a login-shell account Warden does not know',
    },
  ],
  authorizedKeys: [
    {
      server: 'web-1',
      login: 'deploy',
      file: '/home/deploy/.ssh/authorized_keys',
      line: 3,
      type: 'ssh-ed25519',
      fingerprint: 'SHA256:Xjs/UPF43Rf3d8GZKoPOWh+YzIJT8iMVbEIZNVt+73Y',
      comment: '@SUM(1+1), "x"\nnext line',
      tag: null,
      match: 'unknown',
      keyId: null,
      grantId: null,
      user: null,
      flagged: true,
      note: 'a key Warden does not know',
    },
  ],
  keys: [],
  findings: [{ severity: 'high', server: 'web-1', subject: '+danger', message: '-2+3', chase: 'carol' }],
};

describe('audit report CSV', () => {
  it('round-trips commas, quotes and newlines, one row per item', () => {
    const parsed = parseCsv(toCsv(hostile));
    expect(parsed[0]).toEqual([...CSV_COLUMNS]);
    expect(parsed.slice(1)).toEqual(csvRows(hostile));
    expect(parsed.map((r) => r[0])).toEqual([
      'section',
      'server',
      'command',
      'account',
      'authorized-key',
      'finding',
    ]);
    expect(parsed[4]![7]).toBe('/home/deploy/.ssh/authorized_keys:3 @SUM(1+1), "x"\nnext line');
  });

  it('never lets server text become a spreadsheet formula', () => {
    const parsed = parseCsv(toCsv(hostile));
    for (const row of parsed) for (const cell of row) expect(cell).not.toMatch(/^[=+\-@]/);
    expect(parsed[3]![3]).toBe("'=cmd|' /C calc'!A0");
    expect(parsed[5]![7]).toBe("'+danger");
  });

  it('refuses a CSV that ends inside a quote', () => {
    expect(() => parseCsv('a,"b\n')).toThrow(/inside a quoted field/);
  });
});
