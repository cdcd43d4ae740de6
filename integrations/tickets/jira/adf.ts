/**
 * Atlassian Document Format, the body format of Jira Cloud's v3 API: just enough to turn plain
 * text into paragraphs (blank lines) with hard breaks (single newlines), and back to text.
 */
export interface AdfNode {
  type: string;
  text?: string;
  content?: AdfNode[];
  version?: number;
}

/** Plain text → an ADF document. Text is never interpreted as markup. */
export function textToAdf(text: string): AdfNode {
  const paragraphs = text
    .replace(/\r\n?/g, '\n')
    .split(/\n{2,}/)
    .filter((p) => p.trim() !== '');
  return {
    type: 'doc',
    version: 1,
    content: paragraphs.map((p) => {
      const content: AdfNode[] = [];
      p.split('\n').forEach((line, i) => {
        if (i > 0) content.push({ type: 'hardBreak' });
        if (line !== '') content.push({ type: 'text', text: line });
      });
      return { type: 'paragraph', content };
    }),
  };
}

/** The text of an ADF document (or a plain v2 string body): paragraphs joined by blank lines. */
export function adfToText(body: unknown): string {
  if (typeof body === 'string') return body;
  const walk = (node: unknown): string => {
    if (!node || typeof node !== 'object') return '';
    const n = node as AdfNode;
    if (n.type === 'text') return n.text ?? '';
    if (n.type === 'hardBreak') return '\n';
    const inner = Array.isArray(n.content) ? n.content.map(walk) : [];
    return n.type === 'doc' ? inner.join('\n\n') : inner.join('');
  };
  return walk(body);
}
