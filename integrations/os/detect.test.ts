import { describe, expect, it } from 'vitest';
import { detectOs, parseOsRelease, rhelPackageManager } from './detect.js';
import { fixture, randomBytes } from './test-helpers.js';

// os-release files as the distributions ship them (Debian and Rocky/SLES/Alpine/Amazon from fixtures).
const UBUNTU = `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=jammy
`;
const RHEL = `NAME="Red Hat Enterprise Linux"
VERSION="9.3 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"
ANSI_COLOR="0;31"
`;
const ALMA = `NAME="AlmaLinux"
VERSION="8.9 (Midnight Oncilla)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.9"
PRETTY_NAME="AlmaLinux 8.9 (Midnight Oncilla)"
`;
const LEAP = `NAME="openSUSE Leap"
VERSION="15.5"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.5"
PRETTY_NAME="openSUSE Leap 15.5"
ANSI_COLOR="0;32"
`;

describe('parseOsRelease', () => {
  it('reads quoted, single-quoted and unquoted values and unescapes double quotes', () => {
    const fields = parseOsRelease(
      'ID=debian\nNAME="Debian \\"GNU\\"/Linux"\n# comment\n\nVERSION_ID=\'12\'\nBROKEN="no end\nlower=ignored\n',
    );
    expect(fields).toEqual({ ID: 'debian', NAME: 'Debian "GNU"/Linux', VERSION_ID: '12' });
  });

  it('skips unquoted values that contain shell syntax', () => {
    expect(parseOsRelease('ID=$(reboot)\nVERSION_ID=1;rm\n')).toEqual({});
  });
});

describe('detectOs', () => {
  it.each([
    [
      'debian',
      fixture('debian-12-os-release'),
      { family: 'debian', id: 'debian', versionId: '12', codename: 'bookworm' },
    ],
    ['ubuntu', UBUNTU, { family: 'debian', id: 'ubuntu', versionId: '22.04', codename: 'jammy' }],
    ['rhel', RHEL, { family: 'rhel', id: 'rhel', versionId: '9.3' }],
    ['rocky', fixture('rocky-9-os-release'), { family: 'rhel', id: 'rocky', versionId: '9.4' }],
    ['alma', ALMA, { family: 'rhel', id: 'almalinux', versionId: '8.9' }],
    ['amzn', fixture('amzn-2-os-release'), { family: 'rhel', id: 'amzn', versionId: '2' }],
    ['sles', fixture('sles-15-os-release'), { family: 'suse', id: 'sles', versionId: '15.5' }],
    ['opensuse-leap', LEAP, { family: 'suse', id: 'opensuse-leap', versionId: '15.5' }],
    ['alpine', fixture('alpine-3.19-os-release'), { family: 'alpine', id: 'alpine', versionId: '3.19.1' }],
  ])('recognises %s', (_name, text, expected) => {
    const os = detectOs(text);
    expect(os).toMatchObject(expected);
    expect(os.prettyName).not.toBe('');
    if (!('codename' in expected)) expect(os.codename).toBeUndefined();
  });

  it('uses ID_LIKE for derivatives it has no entry for', () => {
    expect(detectOs('ID=pureos\nID_LIKE=debian\nVERSION_ID=10\n').family).toBe('debian');
    expect(detectOs('ID="circle"\nID_LIKE="rhel fedora"\n').family).toBe('rhel');
  });

  it('falls back to the legacy release files when os-release is missing', () => {
    expect(detectOs(null, { '/etc/redhat-release': 'CentOS release 6.10 (Final)\n' })).toMatchObject({
      family: 'rhel',
      id: 'centos',
      versionId: '6.10',
    });
    expect(detectOs('', { '/etc/system-release': 'Amazon Linux AMI release 2018.03\n' })).toMatchObject({
      family: 'rhel',
      id: 'amzn',
      versionId: '2018.03',
    });
    expect(
      detectOs(null, {
        '/etc/SuSE-release': 'SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n',
      }),
    ).toMatchObject({ family: 'suse', id: 'sles', versionId: '11.4' });
    expect(detectOs(null, { '/etc/alpine-release': '3.12.0\n' })).toMatchObject({
      family: 'alpine',
      versionId: '3.12.0',
    });
    expect(detectOs(null, { '/etc/debian_version': '8.11\n' })).toMatchObject({
      family: 'debian',
      versionId: '8',
    });
  });

  it('answers unknown for a missing, empty or garbage file instead of throwing', () => {
    expect(detectOs(null).family).toBe('unknown');
    expect(detectOs('').family).toBe('unknown');
    expect(detectOs(randomBytes(100_000).toString('latin1')).family).toBe('unknown');
    expect(detectOs('ID=plan9\nVERSION_ID=4\n')).toMatchObject({ family: 'unknown', id: 'plan9' });
    expect(detectOs(null, { '/etc/redhat-release': 'x'.repeat(10_000) }).family).toBe('unknown');
  });

  it('reads a file cut in the middle of a line up to the cut', () => {
    const cut = fixture('rocky-9-os-release').slice(0, 60);
    expect(detectOs(cut)).toMatchObject({ family: 'rhel', id: 'rocky' });
  });
});

describe('rhelPackageManager', () => {
  it('picks yum for RHEL 7 and Amazon Linux 2, dnf from RHEL 8 and AL2023 on', () => {
    expect(rhelPackageManager(detectOs('ID="centos"\nVERSION_ID="7"\n'))).toBe('yum');
    expect(rhelPackageManager(detectOs(fixture('amzn-2-os-release')))).toBe('yum');
    expect(rhelPackageManager(detectOs('ID="amzn"\nVERSION_ID="2023"\n'))).toBe('dnf');
    expect(rhelPackageManager(detectOs(fixture('rocky-9-os-release')))).toBe('dnf');
  });
});
