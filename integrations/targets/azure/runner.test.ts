import { describe, expect, it } from 'vitest';
import { azureClassification, azureSeverity, osFromImage } from './patches.js';
import { linuxRunnerScript, parseRunnerOutput, parseWindowsExit } from './runner.js';

function frame(
  out: string,
  err: string,
  rc: number,
  timedOut: 0 | 1,
  outBytes = out.length,
  errBytes = err.length,
): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  return `\nwarden-begin\n${b64(out)}\n${b64(err)}\nwarden-end rc=${rc} timedout=${timedOut} out=${outBytes} err=${errBytes}\n`;
}

describe('the Run Command runner', () => {
  it('reads the frame out of a Linux Run Command message', () => {
    const message = `Enable succeeded: \n[stdout]\n${frame('out\n', 'err\n', 7, 0)}\n[stderr]\n`;
    expect(parseRunnerOutput(message)).toEqual({
      exitCode: 7,
      timedOut: false,
      stdout: 'out\n',
      stderr: 'err\n',
      truncated: false,
    });
  });

  it('flags output the runner kept only the start of', () => {
    expect(parseRunnerOutput(frame('abc', '', 0, 0, 10_000, 0))?.truncated).toBe(true);
  });

  it('returns null when the script never printed its frame', () => {
    expect(
      parseRunnerOutput('Enable failed: \n[stdout]\n\n[stderr]\nsh: 1: timeout: not found\n'),
    ).toBeNull();
    expect(
      parseRunnerOutput('warden-begin\nnot base64!\n\nwarden-end rc=0 timedout=0 out=1 err=0\n'),
    ).toBeNull();
  });

  it('puts every argument and the standard input into the script only as quoted words', () => {
    const lines = linuxRunnerScript(['printf', '%s', "'; rm -rf / #"], {
      stdin: '$(id)\n',
      timeoutSeconds: 0.3,
      maxOutputBytes: 100,
    });
    expect(lines.slice(0, 5)).toEqual([
      `set -- 'printf' '%s' ''\\''; rm -rf / #'`,
      'warden_t=1',
      'warden_cap=100',
      'warden_budget=2900',
      `warden_in='$(id)\n'`,
    ]);
  });

  it('strips the exit-code line a Windows script prints last', () => {
    expect(parseWindowsExit('a\r\nb\r\n\r\nwarden-exit=0\r\n')).toEqual({
      stdout: 'a\r\nb\r\n',
      exitCode: 0,
    });
    expect(parseWindowsExit('no trailer')).toEqual({ stdout: 'no trailer', exitCode: null });
  });
});

describe('Azure patch mapping', () => {
  it('treats Linux Critical and Security as security and only Linux Critical as critical', () => {
    expect(azureClassification(['Critical'], 'Linux')).toBe('security');
    expect(azureClassification(['Other'], 'Linux')).toBe('other');
    expect(azureSeverity(['Critical'], 'Linux')).toBe('critical');
    expect(azureSeverity(['Security'], 'Linux')).toBe('unknown');
    expect(azureSeverity(['Critical'], 'Windows')).toBe('unknown');
  });

  it('maps every Windows classification, in either spelling, and keeps the most pressing', () => {
    expect(azureClassification(['Critical'], 'Windows')).toBe('bugfix');
    expect(azureClassification(['UpdateRollUp'], 'Windows')).toBe('bugfix');
    expect(azureClassification(['Update Rollups'], 'Windows')).toBe('bugfix');
    expect(azureClassification(['FeaturePack'], 'Windows')).toBe('enhancement');
    expect(azureClassification(['Definition'], 'Windows')).toBe('other');
    expect(azureClassification(['Tools', 'Security'], 'Windows')).toBe('security');
    expect(azureClassification([], 'Windows')).toBe('other');
  });

  it('reads the distribution and version from the marketplace image', () => {
    expect(osFromImage({ osType: 'Linux', publisher: 'RedHat', offer: 'RHEL', sku: '9_3' })).toMatchObject({
      family: 'rhel',
      id: 'rhel',
      versionId: '9.3',
    });
    expect(
      osFromImage({ osType: 'Linux', publisher: 'Debian', offer: 'debian-12', sku: '12-gen2' }),
    ).toMatchObject({ family: 'debian', versionId: '12' });
    expect(
      osFromImage({ osType: 'Linux', publisher: 'SUSE', offer: 'sles-15-sp5', sku: 'gen2' }),
    ).toMatchObject({ family: 'suse' });
  });
});
