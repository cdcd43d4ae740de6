/**
 * Just enough XML for zypper's `--xmlout`: element start tags and their attributes, text of
 * simple children, entity decoding. No DTDs, no external entities, nothing fetched: a hostile
 * document can at worst be read as garbage.
 */

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  /** Raw text between the start tag and its end tag ('' for a self-closing element). */
  inner: string;
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (whole, body: string) => {
    if (body.startsWith('#')) {
      const code = body[1] === 'x' ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[body] ?? whole;
  });
}

const ATTRIBUTE_RE = /([A-Za-z_][A-Za-z0-9_.:-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/g;

export function parseAttributes(tagBody: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const match of tagBody.matchAll(ATTRIBUTE_RE)) {
    attributes[match[1]!] = decodeEntities(match[2] ?? match[3] ?? '');
  }
  return attributes;
}

/**
 * Every `<name …>` element of the document with its attributes and inner text. Elements of the
 * same name are not expected to nest (zypper's `<update>` and `<issue>` do not).
 */
export function findElements(xml: string, name: string): XmlElement[] {
  const elements: XmlElement[] = [];
  const open = new RegExp(`<${name}(\\s[^<>]*?)?(/?)>`, 'g');
  const close = `</${name}>`;
  let match = open.exec(xml);
  while (match !== null) {
    const attributes = parseAttributes(match[1] ?? '');
    const afterTag = open.lastIndex;
    if (match[2] === '/') {
      elements.push({ name, attributes, inner: '' });
    } else {
      const end = xml.indexOf(close, afterTag);
      // An element cut off by truncated output keeps the text that did arrive.
      const inner = end === -1 ? xml.slice(afterTag) : xml.slice(afterTag, end);
      elements.push({ name, attributes, inner });
      if (end !== -1) open.lastIndex = end + close.length;
      else break;
    }
    match = open.exec(xml);
  }
  return elements;
}

/** Text content of the first `<name>` child, entities decoded; '' when absent. */
export function childText(inner: string, name: string): string {
  const start = inner.indexOf(`<${name}>`);
  if (start === -1) return '';
  const end = inner.indexOf(`</${name}>`, start);
  if (end === -1) return '';
  return decodeEntities(inner.slice(start + name.length + 2, end)).trim();
}
