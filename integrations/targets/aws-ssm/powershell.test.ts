import { describe, expect, it } from 'vitest';
import { quotePowerShell } from './powershell.js';

describe('quotePowerShell', () => {
  it('wraps plain text in single quotes', () => {
    expect(quotePowerShell('C:\\Program Files\\app.exe')).toBe("'C:\\Program Files\\app.exe'");
  });

  it('doubles ASCII single quotes', () => {
    expect(quotePowerShell("it's")).toBe("'it''s'");
    expect(quotePowerShell("'")).toBe("''''");
  });

  it('doubles the typographic single quotes PowerShell also ends a string on', () => {
    expect(quotePowerShell('a\u2018b\u2019c\u201Ad\u201Be')).toBe(
      "'a\u2018\u2018b\u2019\u2019c\u201A\u201Ad\u201B\u201Be'",
    );
  });

  it('leaves variables, subexpressions, backticks and newlines inert inside the quotes', () => {
    for (const text of [
      '$env:PATH',
      '$(Remove-Item C:\\ -Recurse)',
      '`n',
      'a\nb; Stop-Computer',
      '"double"',
    ]) {
      expect(quotePowerShell(text)).toBe(`'${text}'`);
    }
  });

  it('refuses a NUL byte', () => {
    expect(() => quotePowerShell('a\0b')).toThrow(/NUL/);
  });
});
