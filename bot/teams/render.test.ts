import { describe, expect, it } from 'vitest';
import type { Reply } from '../chat/model.js';
import { CARD_BUDGET_BYTES, cardSize, FIELD_PREFIX, FORM_VERB, renderCard } from './render.js';

function texts(node: unknown, out: { type: string; text: string }[] = []): { type: string; text: string }[] {
  if (Array.isArray(node)) for (const n of node) texts(n, out);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (typeof o.text === 'string') out.push({ type: String(o.type), text: o.text });
    for (const v of Object.values(o)) if (typeof v === 'object') texts(v, out);
  }
  return out;
}

describe('Teams card rendering', () => {
  it('renders an approval as an Adaptive Card 1.5 with Action.Execute buttons carrying the value', () => {
    const card = renderCard({
      visibility: 'public',
      header: 'Approval #7: approver on demo',
      text: 'Waiting for approval',
      fields: [{ label: 'Reason', value: 'on call' }],
      buttons: [
        { label: 'Approve', actionId: 'approval.approve', value: '7', style: 'primary' },
        { label: 'Deny', actionId: 'approval.deny', value: '7', style: 'danger' },
        { label: 'Details', actionId: 'approval.details', value: '7' },
      ],
      tone: 'info',
    });
    expect(card).toMatchObject({ type: 'AdaptiveCard', version: '1.5' });
    expect(card.actions).toEqual([
      {
        type: 'Action.Execute',
        title: 'Approve',
        verb: 'approval.approve',
        style: 'positive',
        data: { wardenAction: 'approval.approve', wardenValue: '7' },
      },
      {
        type: 'Action.Execute',
        title: 'Deny',
        verb: 'approval.deny',
        style: 'destructive',
        data: { wardenAction: 'approval.deny', wardenValue: '7' },
      },
      {
        type: 'Action.Execute',
        title: 'Details',
        verb: 'approval.details',
        data: { wardenAction: 'approval.details', wardenValue: '7' },
      },
    ]);
    expect(card.body[0]).toMatchObject({ type: 'Container', style: 'accent' });
  });

  it('puts text from data in TextRuns, which Teams never reads as Markdown', () => {
    const hostile = '[click me](https://evil.example.com) **bold** <at>everyone</at>';
    const card = renderCard({
      visibility: 'public',
      header: hostile,
      text: hostile,
      fields: [{ label: hostile, value: hostile }],
    });
    const runs = texts(card.body);
    expect(runs.filter((r) => r.text.includes('evil')).every((r) => r.type === 'TextRun')).toBe(true);
  });

  it('cuts a long list with "…and N more" and a link to everything', () => {
    const reply: Reply = {
      visibility: 'public',
      items: Array.from({ length: 60 }, (_, i) => ({ text: `server-${i}`, detail: 'pending' })),
      moreUrl: 'https://warden.example.com/servers',
    };
    const card = renderCard(reply);
    const all = texts(card.body).map((t) => t.text);
    expect(all.filter((t) => t.startsWith('• server-'))).toHaveLength(25);
    expect(all).toContain('…and 35 more (see everything with the link below)');
    expect(card.actions).toEqual([
      { type: 'Action.OpenUrl', title: 'See everything', url: 'https://warden.example.com/servers' },
    ]);
  });

  it('keeps a huge reply under the Teams size budget by cutting lists, then texts', () => {
    const big = 'x'.repeat(5000);
    const card = renderCard({
      visibility: 'public',
      text: big,
      fields: Array.from({ length: 12 }, (_, i) => ({ label: `f${i}`, value: big })),
      items: Array.from({ length: 200 }, (_, i) => ({ text: `${i} ${big}` })),
    });
    expect(cardSize(card)).toBeLessThanOrEqual(CARD_BUDGET_BYTES);
    expect(texts(card.body).some((t) => /…and \d+ more/.test(t.text))).toBe(true);
  });

  it('drops a button whose URL is not http(s)', () => {
    const card = renderCard({
      visibility: 'public',
      text: 'x',
      buttons: [
        { label: 'bad', actionId: 'x', value: '', url: 'javascript:alert(1)' },
        { label: 'good', actionId: 'y', value: '', url: 'https://warden.example.com/' },
      ],
    });
    expect(card.actions).toEqual([
      { type: 'Action.OpenUrl', title: 'good', url: 'https://warden.example.com/' },
    ]);
  });

  it('renders a form with prefixed inputs, its errors and a submit that carries the form id and state', () => {
    const card = renderCard(
      {
        visibility: 'private',
        form: {
          id: 'access.request',
          title: 'Request access',
          submitLabel: 'Ask',
          state: 'st-1',
          fields: [
            { id: 'server', label: 'Server', kind: 'text', required: true },
            { id: 'why', label: 'Why', kind: 'textarea' },
            { id: 'for', label: 'For', kind: 'select', options: [{ label: '1 hour', value: '1h' }] },
          ],
        },
      },
      { fieldErrors: { server: 'no server web-9' }, values: { server: 'web-9' } },
    );
    const inputs = card.body.filter((e) => String(e.type).startsWith('Input.'));
    expect(inputs.map((e) => e.id)).toEqual([
      `${FIELD_PREFIX}server`,
      `${FIELD_PREFIX}why`,
      `${FIELD_PREFIX}for`,
    ]);
    expect(inputs[0]).toMatchObject({ isRequired: true, value: 'web-9' });
    expect(texts(card.body).map((t) => t.text)).toContain('no server web-9');
    expect(card.actions).toEqual([
      {
        type: 'Action.Execute',
        title: 'Ask',
        verb: FORM_VERB,
        style: 'positive',
        data: { wardenForm: 'access.request', wardenState: 'st-1' },
      },
    ]);
  });
});
