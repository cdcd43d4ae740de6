import { describe, expect, it } from 'vitest';
import { describeProblems, SLACK_LIMITS, validateBlocks, validateView } from './slack-blocks.js';

const plain = (text: string) => ({ type: 'plain_text', text });
const mrkdwn = (text: string) => ({ type: 'mrkdwn', text });
const s = (n: number) => 'x'.repeat(n);
const button = (over: Record<string, unknown> = {}) => ({ type: 'button', text: plain('Approve'), ...over });
const options = (n: number, textLength = 5) =>
  Array.from({ length: n }, (_, i) => ({ text: plain(s(textLength)), value: `v${i}` }));

function messageProblems(blocks: unknown[]): string[] {
  return describeProblems(validateBlocks(blocks, SLACK_LIMITS.messageBlocks));
}

describe('Block Kit limits in the fake', () => {
  const cases: { name: string; ok: unknown; bad: unknown; pointer: string }[] = [
    {
      name: 'section text (3000)',
      ok: { type: 'section', text: mrkdwn(s(3000)) },
      bad: { type: 'section', text: mrkdwn(s(3001)) },
      pointer: '/blocks/0/text/text',
    },
    {
      name: 'section fields count (10)',
      ok: { type: 'section', fields: Array.from({ length: 10 }, () => mrkdwn('f')) },
      bad: { type: 'section', fields: Array.from({ length: 11 }, () => mrkdwn('f')) },
      pointer: '/blocks/0/fields',
    },
    {
      name: 'section field text (2000)',
      ok: { type: 'section', fields: [mrkdwn(s(2000))] },
      bad: { type: 'section', fields: [mrkdwn(s(2001))] },
      pointer: '/blocks/0/fields/0/text',
    },
    {
      name: 'header text (150)',
      ok: { type: 'header', text: plain(s(150)) },
      bad: { type: 'header', text: plain(s(151)) },
      pointer: '/blocks/0/text/text',
    },
    {
      name: 'block_id (255)',
      ok: { type: 'divider', block_id: s(255) },
      bad: { type: 'divider', block_id: s(256) },
      pointer: '/blocks/0/block_id',
    },
    {
      name: 'context elements (10)',
      ok: { type: 'context', elements: Array.from({ length: 10 }, () => mrkdwn('c')) },
      bad: { type: 'context', elements: Array.from({ length: 11 }, () => mrkdwn('c')) },
      pointer: '/blocks/0/elements',
    },
    {
      name: 'button text (75)',
      ok: { type: 'actions', elements: [button({ text: plain(s(75)) })] },
      bad: { type: 'actions', elements: [button({ text: plain(s(76)) })] },
      pointer: '/blocks/0/elements/0/text/text',
    },
    {
      name: 'button value (2000)',
      ok: { type: 'actions', elements: [button({ value: s(2000) })] },
      bad: { type: 'actions', elements: [button({ value: s(2001) })] },
      pointer: '/blocks/0/elements/0/value',
    },
    {
      name: 'action_id (255)',
      ok: { type: 'section', text: mrkdwn('t'), accessory: button({ action_id: s(255) }) },
      bad: { type: 'section', text: mrkdwn('t'), accessory: button({ action_id: s(256) }) },
      pointer: '/blocks/0/accessory/action_id',
    },
    {
      name: 'static_select options (100)',
      ok: { type: 'actions', elements: [{ type: 'static_select', options: options(100) }] },
      bad: { type: 'actions', elements: [{ type: 'static_select', options: options(101) }] },
      pointer: '/blocks/0/elements/0/options',
    },
    {
      name: 'option text (75)',
      ok: { type: 'actions', elements: [{ type: 'static_select', options: options(1, 75) }] },
      bad: { type: 'actions', elements: [{ type: 'static_select', options: options(1, 76) }] },
      pointer: '/blocks/0/elements/0/options/0/text/text',
    },
  ];

  for (const { name, ok, bad, pointer } of cases) {
    it(`accepts the documented maximum and refuses one more: ${name}`, () => {
      expect(messageProblems([ok])).toEqual([]);
      expect(messageProblems([bad])).toEqual([
        expect.stringMatching(new RegExp(`\\[json-pointer:${pointer.replace(/\//g, '\\/')}\\]$`)),
      ]);
    });
  }

  it('counts characters, not UTF-16 units', () => {
    expect(messageProblems([{ type: 'header', text: plain('🚀'.repeat(150)) }])).toEqual([]);
  });

  it('allows 50 blocks in a message and 100 in a view', () => {
    const divider = { type: 'divider' };
    expect(messageProblems(Array(50).fill(divider))).toEqual([]);
    expect(messageProblems(Array(51).fill(divider))).toEqual([
      'no more than 50 items allowed [json-pointer:/blocks]',
    ]);
    expect(validateView({ type: 'home', blocks: Array(100).fill(divider) })).toEqual([]);
    expect(describeProblems(validateView({ type: 'home', blocks: Array(101).fill(divider) }))).toEqual([
      'no more than 100 items allowed [json-pointer:/view/blocks]',
    ]);
  });

  it('refuses header text that is not plain_text and unknown block types', () => {
    expect(messageProblems([{ type: 'header', text: mrkdwn('h') }])).toEqual([
      'must be one of plain_text [json-pointer:/blocks/0/text/type]',
    ]);
    expect(messageProblems([{ type: 'sectoin', text: mrkdwn('t') }])).toEqual([
      'unsupported block type sectoin [json-pointer:/blocks/0/type]',
    ]);
  });

  it('limits modal title, submit and close to 24 characters and needs submit with inputs', () => {
    const modal = {
      type: 'modal',
      title: plain(s(24)),
      submit: plain(s(24)),
      close: plain(s(24)),
      blocks: [],
    };
    expect(validateView(modal)).toEqual([]);
    const tooLong = { ...modal, title: plain(s(25)), submit: plain(s(25)), close: plain(s(25)) };
    expect(describeProblems(validateView(tooLong))).toEqual([
      'must be less than 25 characters [json-pointer:/view/title/text]',
      'must be less than 25 characters [json-pointer:/view/submit/text]',
      'must be less than 25 characters [json-pointer:/view/close/text]',
    ]);
    const input = { type: 'input', label: plain('Reason'), element: { type: 'plain_text_input' } };
    expect(describeProblems(validateView({ type: 'modal', title: plain('t'), blocks: [input] }))).toEqual([
      'is required when the view has input blocks [json-pointer:/view/submit]',
    ]);
  });
});
