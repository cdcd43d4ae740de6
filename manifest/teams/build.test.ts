import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildPackage, crc32, drawIcons, fillManifest, zip } from './build.js';

const APP = '11111111-2222-3333-4444-555555555555';

/** The entries of a stored ZIP, read from its central directory, CRCs checked. */
function unzip(archive: Buffer): Map<string, Buffer> {
  const end = archive.length - 22;
  expect(archive.readUInt32LE(end)).toBe(0x06054b50);
  const count = archive.readUInt16LE(end + 10);
  let at = archive.readUInt32LE(end + 16);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    expect(archive.readUInt32LE(at)).toBe(0x02014b50);
    const crc = archive.readUInt32LE(at + 16);
    const size = archive.readUInt32LE(at + 20);
    const nameLength = archive.readUInt16LE(at + 28);
    const local = archive.readUInt32LE(at + 42);
    const name = archive.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    const start = local + 30 + archive.readUInt16LE(local + 26);
    const data = archive.subarray(start, start + size);
    expect(crc32(data)).toBe(crc);
    files.set(name, data);
    at += 46 + nameLength;
  }
  return files;
}

function pngSize(data: Buffer): { width: number; height: number; pixels: Buffer } {
  expect(data.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const width = data.readUInt32BE(16);
  const height = data.readUInt32BE(20);
  const idatLength = data.readUInt32BE(33);
  expect(data.subarray(37, 41).toString('ascii')).toBe('IDAT');
  return { width, height, pixels: inflateSync(data.subarray(41, 41 + idatLength)) };
}

describe('the Teams app package', () => {
  it('zips manifest.json and the two icons at the top level, with the app id and host filled in', () => {
    const files = unzip(buildPackage(APP, 'warden.example.com'));
    expect([...files.keys()]).toEqual(['manifest.json', 'color.png', 'outline.png']);
    const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8'));
    expect(manifest).toMatchObject({
      manifestVersion: '1.19',
      id: APP,
      validDomains: ['warden.example.com'],
    });
    expect(manifest.bots[0]).toMatchObject({ botId: APP, scopes: ['personal', 'team', 'groupChat'] });
    for (const list of manifest.bots[0].commandLists) {
      expect(list.commands.length).toBeLessThanOrEqual(10);
      for (const c of list.commands) {
        expect(c.title.length).toBeLessThanOrEqual(32);
        expect(c.description.length).toBeLessThanOrEqual(128);
      }
    }
    expect(manifest.description.short.length).toBeLessThanOrEqual(80);
    expect(JSON.stringify(manifest)).not.toContain('{{');
  });

  it('draws a 192×192 colour icon and a 32×32 white-on-transparent outline', () => {
    const { color, outline } = drawIcons();
    const c = pngSize(color);
    expect([c.width, c.height]).toEqual([192, 192]);
    expect(c.pixels.length).toBe((192 * 4 + 1) * 192);
    const o = pngSize(outline);
    expect([o.width, o.height]).toEqual([32, 32]);
    const alphas = new Set<number>();
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const p = y * 129 + 1 + x * 4;
        alphas.add(o.pixels[p + 3]!);
        if (o.pixels[p + 3] === 255) expect([...o.pixels.subarray(p, p + 3)]).toEqual([255, 255, 255]);
      }
    }
    expect([...alphas].sort()).toEqual([0, 255]);
  });

  it('refuses an app id or host that is not one, hostile ones included', () => {
    const template = '{"id":"{{TEAMS_APP_ID}}","validDomains":["{{WARDEN_HOST}}"]}';
    expect(() => fillManifest(template, 'bot', 'warden.example.com')).toThrow(/--app-id/);
    expect(() => fillManifest(template, APP, 'x"]; rm -rf / #')).toThrow(/--host/);
    expect(() => fillManifest(template, APP, 'https://warden.example.com')).toThrow(/--host/);
    expect(fillManifest(template, APP.toUpperCase(), 'Warden.Example.com')).toEqual({
      id: APP,
      validDomains: ['warden.example.com'],
    });
  });

  it('writes a ZIP that the zip tools read', () => {
    const files = unzip(zip([{ name: 'a.txt', data: Buffer.from('hello') }]));
    expect(files.get('a.txt')?.toString()).toBe('hello');
  });
});
