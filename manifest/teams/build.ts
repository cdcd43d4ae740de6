import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

/**
 * The Teams app package: manifest.json with the bot's app id and Warden's host filled in, plus
 * the two icons, zipped flat as Teams wants it. Also draws the icons (a shield), so they can be
 * made again without an image editor. No dependencies: PNG and ZIP are written by hand (ZIP
 * entries stored, not compressed: three small files).
 *
 *   npm run teams:package -- --app-id <Microsoft App ID> --host warden.example.com [--out dist/warden-teams.zip]
 *   npx tsx manifest/teams/build.ts icons
 */
const HERE = path.dirname(fileURLToPath(import.meta.url));
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HOST = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** An RGBA PNG from a pixel function. */
export function png(
  width: number,
  height: number,
  pixel: (x: number, y: number) => [number, number, number, number],
): Buffer {
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const [r, g, b, a] = pixel(x, y);
      raw.set([r, g, b, a], y * (width * 4 + 1) + 1 + x * 4);
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** 1980-01-01, a fixed date so the same inputs give the same bytes. */
const DOS_DATE = (1 << 5) | 1;

/** A ZIP archive of flat files, stored without compression. */
export function zip(files: { name: string; data: Buffer }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8');
    const crc = crc32(f.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(f.data.length, 18);
    local.writeUInt32LE(f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(f.data.length, 20);
    central.writeUInt32LE(f.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, f.data);
    centrals.push(central, name);
    offset += local.length + name.length + f.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** The shield: a flat top, straight sides, then a point at the bottom (unit coordinates). */
function inShield(x: number, y: number, inset = 0): boolean {
  const top = 0.12 + inset;
  const bottom = 0.9 - inset * 1.6;
  const half = 0.34 - inset;
  if (y < top || y > bottom) return false;
  const taper = 0.55;
  const width = y < taper ? half : half * (1 - (y - taper) / (bottom - taper));
  return Math.abs(x - 0.5) <= width;
}

export function drawIcons(): { color: Buffer; outline: Buffer } {
  const color = png(192, 192, (px, py) => {
    const x = (px + 0.5) / 192;
    const y = (py + 0.5) / 192;
    if (inShield(x, y, 0.06) && !(Math.abs(x - 0.5) < 0.03 && y > 0.25 && y < 0.7))
      return [255, 255, 255, 255];
    return [11, 85, 99, 255];
  });
  // Teams wants the outline icon white on transparent.
  const outline = png(32, 32, (px, py) => {
    const x = (px + 0.5) / 32;
    const y = (py + 0.5) / 32;
    return inShield(x, y) && !inShield(x, y, 0.08) ? [255, 255, 255, 255] : [0, 0, 0, 0];
  });
  return { color, outline };
}

/** manifest.json with the app id and host filled in; throws naming a bad argument. */
export function fillManifest(template: string, appId: string, host: string): Record<string, unknown> {
  if (!GUID.test(appId))
    throw new Error(`--app-id must be the bot's Microsoft App ID (a GUID), not "${appId.slice(0, 40)}"`);
  if (!HOST.test(host))
    throw new Error(
      `--host must be Warden's public host name, like warden.example.com, not "${host.slice(0, 60)}"`,
    );
  const filled = template
    .replaceAll('{{TEAMS_APP_ID}}', appId.toLowerCase())
    .replaceAll('{{WARDEN_HOST}}', host.toLowerCase());
  return JSON.parse(filled) as Record<string, unknown>;
}

export function buildPackage(appId: string, host: string): Buffer {
  const manifest = fillManifest(readFileSync(path.join(HERE, 'manifest.json'), 'utf8'), appId, host);
  return zip([
    { name: 'manifest.json', data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) },
    { name: 'color.png', data: readFileSync(path.join(HERE, 'color.png')) },
    { name: 'outline.png', data: readFileSync(path.join(HERE, 'outline.png')) },
  ]);
}

function arg(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at === -1 ? undefined : argv[at + 1];
}

function main(argv: string[]): void {
  if (argv[0] === 'icons') {
    const { color, outline } = drawIcons();
    writeFileSync(path.join(HERE, 'color.png'), color);
    writeFileSync(path.join(HERE, 'outline.png'), outline);
    console.log('wrote manifest/teams/color.png and outline.png');
    return;
  }
  const appId = arg(argv, '--app-id') ?? process.env.TEAMS_APP_ID ?? '';
  const publicUrl = process.env.WARDEN_PUBLIC_URL;
  const host = arg(argv, '--host') ?? (publicUrl ? new URL(publicUrl).hostname : '');
  const out = path.resolve(arg(argv, '--out') ?? 'dist/warden-teams.zip');
  const archive = buildPackage(appId, host);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, archive);
  console.log(`wrote ${out}: upload it in Teams admin center → Teams apps → Manage apps → Upload`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 1;
  }
}
