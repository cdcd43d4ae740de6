/**
 * Server-rendered HTML without a template engine: `html` is a tagged template that escapes every
 * interpolated value unless it is already `Html` (built by `html` itself), so data can never
 * become markup. Arrays of Html are joined.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type Safe = Html | string | number | null | undefined | false | readonly Safe[];

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function render(value: Safe): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return esc(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Safe[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new Html(out);
}

/** A URL safe to put in href: our own paths, or http(s) links; anything else becomes '#'. */
export function safeHref(url: string): string {
  return /^(\/(?!\/)|https?:\/\/)/i.test(url) ? url : '#';
}

/** Markup written in this codebase (the stylesheet), never data: passed through as is. */
export function trusted(markup: string): Html {
  return new Html(markup);
}
