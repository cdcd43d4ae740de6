import { describe, expect, it } from 'vitest';
import { validateBlocks, validateView } from '../../test/fakes/slack-blocks.js';
import type { Reply } from '../chat/model.js';
import { checkSubmission, decodeMeta, encodeMeta, formToModal } from './modals.js';
import type { ViewSubmission } from './parse.js';
import { charLength, chunkText, cut, escapeMrkdwn, mrkdwn, renderReply } from './render.js';

const huge: Reply = {
  visibility: 'public',
  header: `😀${'h'.repeat(400)}`,
  text: `${'t'.repeat(3_500)}\n${'u'.repeat(4_000)}`,
  fields: Array.from({ length: 33 }, (_, i) => ({ label: `field ${i}`, value: '<v>'.repeat(900) })),
  items: Array.from({ length: 10_000 }, (_, i) => ({ text: `server-${i} & more`, detail: '3 days' })),
  buttons: Array.from({ length: 40 }, (_, i) => ({
    label: 'B'.repeat(90),
    actionId: `test.b${i}`,
    value: String(i),
  })),
  context: Array.from({ length: 15 }, (_, i) => `ctx ${i} ${'c'.repeat(4_000)}`),
  moreUrl: 'https://warden.example.com/servers?project=demo',
};

describe('renderReply', () => {
  it('keeps a reply far over every limit within Block Kit, saying how much was left out and linking the full view', () => {
    const { text, blocks } = renderReply(huge);
    expect(validateBlocks(blocks, 50)).toEqual([]);
    expect(blocks).toHaveLength(50);
    const all = JSON.stringify(blocks);
    expect(all).toMatch(
      /…and \d+ more; 15 more actions not shown\. <https:\/\/warden\.example\.com\/servers\?project=demo\|Open the full view>/,
    );
    expect(charLength(text)).toBeLessThanOrEqual(3_000);
    const actions = blocks.find((b) => b.type === 'actions') as { elements: unknown[] };
    expect(actions.elements).toHaveLength(25);
  });

  it('fits a Home tab or modal budget of 100 blocks', () => {
    const { blocks } = renderReply(huge, { maxBlocks: 100 });
    expect(blocks).toHaveLength(100);
    expect(validateView({ type: 'home', blocks })).toEqual([]);
  });

  it('counts characters, not UTF-16 units, when cutting', () => {
    const header = renderReply({ visibility: 'public', header: '😀'.repeat(200) }).blocks[0] as {
      text: { text: string };
    };
    expect(charLength(header.text.text)).toBe(150);
    expect(header.text.text.endsWith('…')).toBe(true);
    expect(cut('abc', 3)).toBe('abc');
    expect(cut('abcd', 3)).toBe('ab…');
  });

  it('escapes user text so it cannot mention @channel or forge a link', () => {
    const hostile = 'x <!channel> <https://evil.example|click> ; rm -rf / $(reboot) `id`\nsecond ünï 🚀';
    const { blocks } = renderReply({ visibility: 'public', text: hostile, items: [{ text: hostile }] });
    const json = JSON.stringify(blocks);
    expect(json).not.toContain('<!channel>');
    expect(json).not.toContain('<https://evil');
    expect(json).toContain('&lt;!channel&gt;');
    expect(json).toContain('; rm -rf / $(reboot)');
    expect(escapeMrkdwn('a & b')).toBe('a &amp; b');
    expect(charLength(mrkdwn('<'.repeat(100), 50))).toBeLessThanOrEqual(50);
  });

  it('splits long text at line ends into sections Slack accepts', () => {
    const chunks = chunkText(['a'.repeat(2_000), 'b'.repeat(2_000), 'c'.repeat(7_000)].join('\n'), 3_000);
    expect(chunks.every((c) => charLength(c) <= 3_000)).toBe(true);
    expect(chunks[0]).toBe('a'.repeat(2_000));
  });

  it('leaves out buttons whose value or id Slack would refuse, and link buttons that are not http(s)', () => {
    const { blocks } = renderReply({
      visibility: 'public',
      text: 'x',
      buttons: [
        { label: 'ok', actionId: 'approval.approve', value: '1' },
        { label: 'too long', actionId: 'approval.deny', value: 'v'.repeat(2_001) },
        { label: 'bad link', actionId: 'x.link', value: '', url: 'javascript:alert(1)' },
        { label: 'docs', actionId: 'x.docs', value: '', url: 'https://example.com/docs' },
      ],
    });
    const actions = blocks.find((b) => b.type === 'actions') as { elements: { action_id: string }[] };
    expect(actions.elements.map((e) => e.action_id)).toEqual(['approval.approve', 'link:x.docs']);
  });

  it('keeps a short reply whole and links the full view when asked', () => {
    const { text, blocks } = renderReply({
      visibility: 'private',
      tone: 'error',
      text: 'no',
      moreUrl: 'https://w.example/x',
    });
    expect(text).toBe(':x: no');
    expect(blocks).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: ':x: no' } },
      { type: 'section', text: { type: 'mrkdwn', text: '<https://w.example/x|Open the full view>' } },
    ]);
  });
});

describe('modals', () => {
  it('turns a form far over the limits into a modal Slack accepts', () => {
    const view = formToModal(
      {
        id: 'access-request',
        title: 'A title much longer than twenty-four characters',
        submitLabel: 'Submit this request right now please',
        state: 's',
        fields: [
          ...Array.from({ length: 150 }, (_, i) => ({
            id: `f${i}`,
            label: 'L'.repeat(3_000),
            kind: 'text' as const,
            placeholder: 'p'.repeat(200),
          })),
          {
            id: 'choice',
            label: 'Pick',
            kind: 'select' as const,
            options: Array.from({ length: 150 }, (_, i) => ({ label: 'o'.repeat(100), value: `v${i}` })),
          },
          { id: 'bad id with spaces', label: 'x', kind: 'text' as const },
        ],
      },
      { channel: 'C1', responseUrl: 'https://hooks.slack.com/x' },
    );
    expect(validateView(view)).toEqual([]);
    expect(view.blocks).toHaveLength(100);
    expect(JSON.stringify(view.blocks[0])).toContain('field(s) could not be shown');
  });

  it('drops the response_url from the metadata before the form state would not fit', () => {
    const meta = encodeMeta({
      channel: 'C1',
      state: 's'.repeat(2_900),
      responseUrl: `https://hooks.slack.com/${'r'.repeat(200)}`,
    });
    expect(meta.length).toBeLessThanOrEqual(3_000);
    expect(decodeMeta(meta)).toEqual({ channel: 'C1', state: 's'.repeat(2_900) });
    expect(() => encodeMeta({ channel: 'C1', state: 's'.repeat(3_100) })).toThrow(/carries at most/);
    expect(decodeMeta('not json')).toBeUndefined();
  });

  it('finds field-level problems in a submission: a required field left empty and a duration that does not parse', () => {
    const view = {
      id: 'V1',
      callback_id: 'x',
      blocks: [
        { type: 'input', block_id: 'reason', optional: false },
        { type: 'input', block_id: 'note', optional: true },
        { type: 'input', block_id: 'duration', optional: false },
      ],
      state: {
        values: {
          reason: { textarea: { type: 'plain_text_input', value: '  ' } },
          note: { text: { type: 'plain_text_input', value: null } },
          duration: { duration: { type: 'plain_text_input', value: '$(reboot)' } },
        },
      },
    } as unknown as ViewSubmission['view'];
    const errors = checkSubmission(view);
    expect(errors).toEqual({
      reason: 'This field is required.',
      duration: expect.stringMatching(/is not a duration/),
    });
  });
});
