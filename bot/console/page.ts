import { CONSOLE_SCRIPT } from './page-script.js';

/**
 * The console page: one self-contained HTML document (inline CSS and vanilla JS, no build step,
 * no CDN). It never builds HTML from data: everything from the server goes in through
 * `textContent`, and the Content-Security-Policy only runs the script carrying this nonce.
 */
const STYLE = `
:root { color-scheme: light; --fg: #1d1c1d; --muted: #616061; --line: #e2e2e2; --accent: #1264a3;
  --danger: #c0392b; --ok: #2e7d32; --warn: #b26a00; --bg-private: #f4f0ff; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  display: flex; flex-direction: column; height: 100vh; }
header { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; padding: .6rem 1rem;
  border-bottom: 1px solid var(--line); background: #3f0e40; color: #fff; }
header h1 { font-size: 1rem; margin: 0 1rem 0 0; }
header label { font-size: .85rem; }
header select, header input { font: inherit; padding: .2rem .4rem; }
#status { font-size: .85rem; margin-left: auto; }
main { flex: 1; overflow-y: auto; padding: .5rem 1rem; }
.msg { padding: .4rem .5rem; border-radius: 6px; margin: .2rem 0; }
.msg.private { background: var(--bg-private); }
.meta { font-size: .8rem; color: var(--muted); display: flex; gap: .5rem; }
.meta .author { font-weight: 700; color: var(--fg); }
.meta .only-you { font-style: italic; }
.thread { margin-left: 1.5rem; border-left: 3px solid var(--line); padding-left: .5rem; }
.thread:empty { display: none; }
.reply { border-left: 4px solid var(--line); padding: .2rem .6rem; }
.reply figure.image { margin: .4rem 0; } .reply figure.image img { max-width: 100%; height: auto; background: #fff; }
.reply.tone-error { border-color: var(--danger); }
.reply.tone-success { border-color: var(--ok); }
.reply.tone-warning { border-color: var(--warn); }
.reply.tone-info { border-color: var(--accent); }
.header { font-weight: 700; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .8rem; margin: .3rem 0; }
dl.fields dt { color: var(--muted); } dl.fields dd { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
ul.items { margin: .3rem 0; padding-left: 1.2rem; }
ul.items .detail { color: var(--muted); margin-left: .5rem; }
.buttons { display: flex; gap: .4rem; margin: .4rem 0; flex-wrap: wrap; }
.buttons button, .buttons a { font: inherit; padding: .25rem .8rem; border-radius: 4px; border: 1px solid #bbb;
  background: #fff; cursor: pointer; color: var(--fg); text-decoration: none; }
.buttons .primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.buttons .danger { background: #fff; border-color: var(--danger); color: var(--danger); }
.context { font-size: .8rem; color: var(--muted); }
form.wform { display: grid; gap: .4rem; max-width: 32rem; margin: .4rem 0; padding: .6rem;
  border: 1px solid var(--line); border-radius: 6px; }
form.wform h3 { margin: 0; font-size: 1rem; }
form.wform label { display: grid; gap: .15rem; font-size: .9rem; }
form.wform .hint { font-size: .8rem; color: var(--muted); }
#composer { display: flex; gap: .5rem; padding: .6rem 1rem; border-top: 1px solid var(--line); }
#composer input { flex: 1; font: inherit; padding: .45rem .6rem; }
.note { font-size: .75rem; color: var(--muted); margin: 0 1rem .5rem; }
`;

/** The page, with `nonce` on its only script and style. */
export function consolePage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Warden console</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<header>
  <h1>Warden console</h1>
  <label>User <select id="user" aria-label="User"></select></label>
  <input id="handle" placeholder="or type a handle" aria-label="Handle" autocomplete="off" hidden>
  <label>Channel <select id="channel" aria-label="Channel"></select></label>
  <span id="status" role="status"></span>
</header>
<main id="messages" aria-live="polite"></main>
<form id="composer" autocomplete="off">
  <input id="text" aria-label="Message" placeholder="/warden help">
  <button type="submit">Send</button>
</form>
<p class="note">Local console: picking a user is the only identity check, so it must never be reachable from other machines.</p>
<script nonce="${nonce}">${CONSOLE_SCRIPT}</script>
</body>
</html>`;
}
