import { describe, expect, it } from 'vitest';
import { osFromPlatform, parseCveIds, ssmClassification, ssmPatchToFinding, ssmSeverity } from './patches.js';

describe('SSM patch mapping', () => {
  it('maps Linux and Windows classifications to Warden classes', () => {
    expect(ssmClassification('Security')).toBe('security');
    expect(ssmClassification('SecurityUpdates')).toBe('security');
    expect(ssmClassification('CriticalUpdates')).toBe('bugfix');
    expect(ssmClassification('Bugfix')).toBe('bugfix');
    expect(ssmClassification('UpdateRollups')).toBe('bugfix');
    expect(ssmClassification('Enhancement')).toBe('enhancement');
    expect(ssmClassification('FeaturePacks')).toBe('enhancement');
    expect(ssmClassification('DefinitionUpdates')).toBe('other');
    expect(ssmClassification('')).toBe('other');
  });

  it('maps vendor severities, treating Medium as moderate and Unspecified as unknown', () => {
    expect(ssmSeverity('Critical')).toBe('critical');
    expect(ssmSeverity('Important')).toBe('important');
    expect(ssmSeverity('Medium')).toBe('moderate');
    expect(ssmSeverity('Moderate')).toBe('moderate');
    expect(ssmSeverity('Low')).toBe('low');
    expect(ssmSeverity('Unspecified')).toBe('unknown');
    expect(ssmSeverity(undefined)).toBe('unknown');
  });

  it('keeps only well-formed CVE ids, sorted and unique', () => {
    expect(parseCveIds('CVE-2021-2, cve-2020-1111,CVE-2021-33909 junk CVE-2020-1111')).toEqual([
      'CVE-2020-1111',
      'CVE-2021-33909',
    ]);
  });

  it('names a Windows update by its KB article', () => {
    expect(
      ssmPatchToFinding({
        Title: 'Windows Malicious Software Removal Tool x64 - February 2019 (KB890830)',
        KBId: 'KB890830',
        Classification: 'UpdateRollups',
        Severity: 'Unspecified',
        State: 'Missing',
      }),
    ).toMatchObject({
      package: 'KB890830',
      candidateVersion: 'KB890830',
      classification: 'bugfix',
      severity: 'unknown',
    });
  });

  it('falls back to the KBId for a title in a form it does not know', () => {
    expect(
      ssmPatchToFinding({ Title: 'libc6 2.35-0ubuntu3.6', KBId: 'libc6', Classification: 'Security' }),
    ).toMatchObject({
      package: 'libc6',
      candidateVersion: '',
    });
  });

  it('recognises distributions from SSM platform names', () => {
    expect(osFromPlatform('Amazon Linux', '2023', 'Linux')).toMatchObject({ family: 'rhel', id: 'amzn' });
    expect(osFromPlatform('SLES', '15.5', 'Linux')).toMatchObject({ family: 'suse', id: 'sles' });
    expect(osFromPlatform('Microsoft Windows Server 2019 Datacenter', '10.0.17763', 'Windows')).toMatchObject(
      {
        family: 'windows',
      },
    );
    expect(osFromPlatform('Plan 9', '4', 'Linux')).toMatchObject({ family: 'unknown', id: 'plan-9' });
  });
});
