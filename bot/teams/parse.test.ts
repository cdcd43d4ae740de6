import { describe, expect, it } from 'vitest';
import { commandText, parseCardAction, parseMessage, TeamsActivity } from './parse.js';

const AT = new Date('2026-02-01T10:00:00Z');
const bot = { id: '28:bot', name: 'Warden' };
const aad = '6c0a1d3e-1111-4a4a-8b8b-123456789abc';

function activity(extra: Record<string, unknown>, personal = true): TeamsActivity {
  return TeamsActivity.parse({
    type: 'message',
    id: '1001',
    channelId: 'msteams',
    serviceUrl: 'https://smba.trafficmanager.net/emea/',
    from: { id: '29:alice', name: 'Alice', aadObjectId: aad },
    recipient: bot,
    conversation: personal
      ? { id: 'a:1alice', conversationType: 'personal', tenantId: 't' }
      : { id: '19:c@thread.tacv2;messageid=1001', conversationType: 'channel', tenantId: 't' },
    ...extra,
  });
}

describe('Teams activity parsing', () => {
  it('reads a personal message with or without the word warden', () => {
    expect(commandText(activity({ text: 'warden access list' }))).toBe('access list');
    expect(commandText(activity({ text: '/warden help' }))).toBe('help');
    expect(commandText(activity({ text: 'whoami' }))).toBe('whoami');
    expect(commandText(activity({ text: 'wardenx' }))).toBe('wardenx');
  });

  it('in a channel, answers only an @mention of the bot, and cuts the mention out', () => {
    expect(commandText(activity({ text: 'hello team' }, false))).toBeUndefined();
    const mention = { type: 'mention', text: '<at>Warden</at>', mentioned: bot };
    expect(
      commandText(activity({ text: '<at>Warden</at> role request x', entities: [mention] }, false)),
    ).toBe('role request x');
    const other = { type: 'mention', text: '<at>Bob</at>', mentioned: { id: '29:bob' } };
    expect(commandText(activity({ text: '<at>Bob</at> look', entities: [other] }, false))).toBeUndefined();
    expect(commandText(activity({ text: '<at>Warden</at> reason &quot;a&amp;b&quot;' }, false))).toBe(
      'reason "a&b"',
    );
  });

  it('turns a message into a command keyed by the activity id, on the channel without its thread', () => {
    const mention = { type: 'mention', text: '<at>Warden</at>', mentioned: bot };
    const parsed = parseMessage(activity({ text: '<at>Warden</at> whoami', entities: [mention] }, false), AT);
    expect(parsed).toMatchObject({
      kind: 'interaction',
      interaction: {
        kind: 'command',
        text: 'whoami',
        dedupeKey: 'teams:1001',
        channel: '19:c@thread.tacv2',
        user: { platform: 'teams', externalId: aad, displayName: 'Alice' },
      },
    });
  });

  it('refuses someone Teams did not name by Entra object id', () => {
    const parsed = parseMessage(activity({ text: 'whoami', from: { id: '29:guest', name: 'Guest' } }), AT);
    expect(parsed.kind).toBe('refuse');
  });

  it('reads an Action.Execute click, and refuses one whose data was tampered with', () => {
    const click = (action: Record<string, unknown>) =>
      activity({
        type: 'invoke',
        name: 'adaptiveCard/action',
        replyToId: '777',
        value: { action, trigger: 'manual' },
      });
    const good = parseCardAction(
      click({
        type: 'Action.Execute',
        verb: 'approval.approve',
        data: { wardenAction: 'approval.approve', wardenValue: '7' },
      }),
      AT,
    );
    expect(good).toMatchObject({
      kind: 'interaction',
      interaction: { kind: 'action', actionId: 'approval.approve', value: '7', messageId: '777' },
    });
    const swapped = click({
      type: 'Action.Execute',
      verb: 'approval.approve',
      data: { wardenAction: 'approval.deny', wardenValue: '7' },
    });
    expect(parseCardAction(swapped, AT).kind).toBe('refuse');
    const long = click({
      type: 'Action.Execute',
      verb: 'x',
      data: { wardenAction: 'x', wardenValue: 'v'.repeat(2001) },
    });
    expect(parseCardAction(long, AT).kind).toBe('refuse');
    expect(parseCardAction(click({ type: 'Action.Submit', data: {} }), AT).kind).toBe('refuse');
  });

  it('reads a form submit into values by field id, with its state', () => {
    const submit = activity({
      type: 'invoke',
      name: 'adaptiveCard/action',
      value: {
        action: {
          type: 'Action.Execute',
          verb: 'warden.form.submit',
          data: { wardenForm: 'f1', wardenState: 's', 'f:server': 'web-1', stray: 'x' },
        },
      },
    });
    expect(parseCardAction(submit, AT)).toMatchObject({
      kind: 'interaction',
      interaction: { kind: 'form', formId: 'f1', state: 's', values: { server: 'web-1' } },
    });
    const bad = activity({
      type: 'invoke',
      name: 'adaptiveCard/action',
      value: {
        action: { type: 'Action.Execute', verb: 'warden.form.submit', data: { wardenForm: 'f1', 'f:x': 5 } },
      },
    });
    expect(parseCardAction(bad, AT).kind).toBe('refuse');
  });

  it('refuses ids that could not have come from Teams', () => {
    expect(TeamsActivity.safeParse({ ...activity({}), conversation: { id: 'a/../../x' } }).success).toBe(
      false,
    );
    expect(TeamsActivity.safeParse({ ...activity({}), conversation: { id: 'a b' } }).success).toBe(false);
  });
});
