import { describe, expect, it } from 'vitest';
import { approvalPolicy, checkApprovalSettings, DEFAULT_APPROVAL_POLICY } from './policy.js';

const HOUR = 3_600_000;

describe('approvalPolicy', () => {
  it('uses one approval, 24h expiry, a 1h reminder and a 4h escalation by default', () => {
    expect(approvalPolicy(null)).toEqual({
      required: 1,
      expiresInMs: 24 * HOUR,
      remindAfterMs: HOUR,
      escalateAfterMs: 4 * HOUR,
    });
    expect(approvalPolicy({ settings: {} })).toEqual(DEFAULT_APPROVAL_POLICY);
  });

  it("reads the project's settings, and 'off' or null turns a step off", () => {
    const policy = approvalPolicy({
      settings: { approvals: { required: 3, expiresIn: '2d', remindAfter: 'off', escalateAfter: null } },
    });
    expect(policy).toEqual({
      required: 3,
      expiresInMs: 48 * HOUR,
      remindAfterMs: null,
      escalateAfterMs: null,
    });
  });

  it('falls back to the default for each malformed knob on its own', () => {
    const policy = approvalPolicy({
      settings: { approvals: { required: 0, expiresIn: 'soon', remindAfter: '30m', escalateAfter: 4 } },
    });
    expect(policy).toEqual({ ...DEFAULT_APPROVAL_POLICY, remindAfterMs: 30 * 60_000 });
    expect(approvalPolicy({ settings: { approvals: 'strict' } })).toEqual(DEFAULT_APPROVAL_POLICY);
    expect(approvalPolicy({ settings: null })).toEqual(DEFAULT_APPROVAL_POLICY);
  });

  it('explains what is wrong with settings before they are stored', () => {
    expect(checkApprovalSettings({ required: 2, expiresIn: '12h' })).toEqual([]);
    expect(checkApprovalSettings({ required: 11, expiresIn: '$(reboot)', quorum: 2 })).toEqual([
      'approvals.required: Too big: expected number to be <=10',
      'approvals.expiresIn: "$(reboot)" is not a duration like 30m, 4h or 1d',
      'approvals.quorum is not a setting (known: required, expiresIn, remindAfter, escalateAfter)',
    ]);
  });
});
