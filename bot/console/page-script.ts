/**
 * The console page's script, sent inline. Plain ES2020 for the browser: it is a string, not
 * compiled, so it stays free of template literals and of any HTML built from data (every piece
 * of server text goes through textContent).
 */
export const CONSOLE_SCRIPT = String.raw`
(function () {
  'use strict';
  var OTHER = '__other__';
  var POLL_MS = 1000;
  var $ = function (id) { return document.getElementById(id); };
  var state = { as: '', channel: '', cursor: null, nodes: new Map(), generation: 0, timer: null, maxId: 0 };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function newRequestId() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
    return 'r' + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  // Only http(s) links: a javascript: URL in a reply must never run.
  function safeUrl(u) {
    try {
      var x = new URL(String(u), location.href);
      return x.protocol === 'http:' || x.protocol === 'https:' ? x.href : null;
    } catch (e) { return null; }
  }

  function setStatus(text, isError) {
    var s = $('status');
    s.textContent = text || '';
    s.style.color = isError ? '#ffb4a9' : '';
  }

  async function api(method, path, body) {
    var init = { method: method, headers: {} };
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    var res = await fetch(path, init);
    var data = await res.json().catch(function () { return {}; });
    if (!res.ok) throw new Error((data && data.error && data.error.message) || ('HTTP ' + res.status));
    return data;
  }

  function currentUser() {
    var picked = $('user').value;
    if (picked !== OTHER) return picked;
    return $('handle').value.trim().toLowerCase();
  }

  function renderButton(msg, b) {
    var url = b.url ? safeUrl(b.url) : null;
    if (b.url) {
      var a = el('a', b.style || 'default', b.label);
      if (url) { a.href = url; a.target = '_blank'; a.rel = 'noopener noreferrer'; }
      return a;
    }
    var btn = el('button', b.style || 'default', b.label);
    btn.type = 'button';
    btn.dataset.actionId = b.actionId;
    btn.addEventListener('click', async function () {
      btn.disabled = true;
      try {
        var out = await api('POST', '/console/api/action', {
          as: state.as, channel: state.channel, actionId: String(b.actionId), value: String(b.value || ''),
          messageId: msg.id, requestId: newRequestId()
        });
        upsertAll(out.messages);
        setStatus('');
      } catch (e) { setStatus(e.message, true); }
      finally { btn.disabled = false; }
    });
    return btn;
  }

  function renderForm(msg, f) {
    var form = el('form', 'wform');
    form.dataset.formId = f.id;
    form.append(el('h3', null, f.title));
    (f.fields || []).forEach(function (field) {
      var label = el('label', null);
      label.append(el('span', null, field.label + (field.required ? ' *' : '')));
      var input;
      if (field.kind === 'textarea') input = el('textarea');
      else if (field.kind === 'select') {
        input = el('select');
        (field.options || []).forEach(function (o) {
          var opt = el('option', null, o.label); opt.value = o.value; input.append(opt);
        });
      } else { input = el('input'); input.type = 'text'; }
      input.name = field.id;
      if (field.required) input.required = true;
      if (field.placeholder) input.placeholder = field.placeholder;
      if (field.initial !== undefined) input.value = field.initial;
      label.append(input);
      if (field.hint) label.append(el('span', 'hint', field.hint));
      form.append(label);
    });
    var submit = el('button', 'primary', f.submitLabel || 'Submit');
    submit.type = 'submit';
    form.append(submit);
    form.addEventListener('submit', async function (ev) {
      ev.preventDefault();
      var values = {};
      new FormData(form).forEach(function (v, k) { values[k] = String(v); });
      submit.disabled = true;
      try {
        var body = { as: state.as, channel: state.channel, formId: String(f.id), values: values, requestId: newRequestId() };
        if (typeof f.state === 'string') body.state = f.state;
        if (/^\d+$/.test(msg.id)) body.messageId = msg.id;
        var out = await api('POST', '/console/api/form', body);
        upsertAll(out.messages);
        setStatus('');
      } catch (e) { setStatus(e.message, true); }
      finally { submit.disabled = false; }
    });
    return form;
  }

  function renderBody(msg) {
    var r = msg.body || {};
    if (msg.author !== 'warden') return el('div', 'text user-text', r.text || '');
    var box = el('div', 'reply' + (r.tone ? ' tone-' + r.tone : ''));
    if (r.header) box.append(el('div', 'header', r.header));
    if (r.text) box.append(el('div', 'text', r.text));
    if (Array.isArray(r.fields) && r.fields.length) {
      var dl = el('dl', 'fields');
      r.fields.forEach(function (f) { dl.append(el('dt', null, f.label), el('dd', null, f.value)); });
      box.append(dl);
    }
    if (Array.isArray(r.items) && r.items.length) {
      var ul = el('ul', 'items');
      r.items.forEach(function (it) {
        var li = el('li', null);
        li.append(el('span', 'item', it.text));
        if (it.detail) li.append(el('span', 'detail', it.detail));
        ul.append(li);
      });
      box.append(ul);
    }
    if (Array.isArray(r.buttons) && r.buttons.length) {
      var row = el('div', 'buttons');
      r.buttons.forEach(function (b) { row.append(renderButton(msg, b)); });
      box.append(row);
    }
    if (r.form) box.append(renderForm(msg, r.form));
    if (r.image && typeof r.image.png === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(r.image.png)) {
      var fig = el('figure', 'image');
      var img = el('img');
      img.src = 'data:image/png;base64,' + r.image.png;
      img.alt = String(r.image.alt || '');
      img.title = String(r.image.title || '');
      fig.append(img);
      if (r.image.title) fig.append(el('figcaption', null, r.image.title));
      box.append(fig);
    }
    (Array.isArray(r.context) ? r.context : []).forEach(function (line) { box.append(el('div', 'context', line)); });
    if (r.moreUrl && safeUrl(r.moreUrl)) {
      var more = el('a', 'more', 'See everything'); more.href = safeUrl(r.moreUrl); more.target = '_blank';
      more.rel = 'noopener noreferrer'; box.append(more);
    }
    return box;
  }

  function renderMeta(msg) {
    var meta = el('div', 'meta');
    meta.append(el('span', 'author', msg.author === 'warden' ? 'Warden' : '@' + msg.author));
    var at = new Date(msg.createdAt);
    meta.append(el('span', 'time', isNaN(at.getTime()) ? '' : at.toLocaleTimeString()));
    if (msg.private) meta.append(el('span', 'only-you', 'Only visible to you'));
    return meta;
  }

  function seqOf(msg) {
    if (/^\d+$/.test(msg.id)) return Number(msg.id);
    return state.maxId + 0.5;
  }

  function place(node, container) {
    var seq = Number(node.dataset.seq);
    var kids = container.children;
    for (var i = 0; i < kids.length; i++) {
      if (Number(kids[i].dataset.seq) > seq) { container.insertBefore(node, kids[i]); return; }
    }
    container.append(node);
  }

  function upsert(msg) {
    if (msg.channel !== state.channel) return;
    var existing = state.nodes.get(msg.id);
    if (existing && existing.dataset.updated === msg.updatedAt) return;
    if (/^\d+$/.test(msg.id)) state.maxId = Math.max(state.maxId, Number(msg.id));
    var node = existing;
    if (!node) {
      node = el('div', 'msg');
      node.id = 'm-' + msg.id;
      node.dataset.seq = String(seqOf(msg));
      node.append(el('div', 'meta'), el('div', 'body'), el('div', 'thread'));
      var parent = msg.threadId ? state.nodes.get(msg.threadId) : null;
      place(node, parent ? parent.querySelector('.thread') : $('messages'));
      state.nodes.set(msg.id, node);
    }
    node.dataset.updated = msg.updatedAt;
    node.classList.toggle('private', !!msg.private);
    node.replaceChild(renderMeta(msg), node.children[0]);
    var body = el('div', 'body');
    body.append(renderBody(msg));
    node.replaceChild(body, node.children[1]);
  }

  function upsertAll(messages) {
    var main = $('messages');
    var atBottom = main.scrollHeight - main.scrollTop - main.clientHeight < 40;
    // Parents before their thread replies: a batch of changes arrives in update order.
    (messages || []).slice().sort(function (a, b) { return seqOf(a) - seqOf(b); }).forEach(upsert);
    if (atBottom) main.scrollTop = main.scrollHeight;
  }

  async function poll() {
    var gen = state.generation;
    clearTimeout(state.timer);
    try {
      var q = '?channel=' + encodeURIComponent(state.channel) + '&as=' + encodeURIComponent(state.as);
      if (state.cursor) q += '&after=' + encodeURIComponent(state.cursor);
      var data = await api('GET', '/console/api/messages' + q);
      if (gen !== state.generation) return;
      state.cursor = data.cursor;
      upsertAll(data.messages);
      document.body.dataset.ready = 'true';
    } catch (e) {
      if (gen === state.generation) setStatus('Cannot reach Warden: ' + e.message, true);
    }
    if (gen === state.generation) state.timer = setTimeout(poll, POLL_MS);
  }

  function reset() {
    state.as = currentUser();
    state.channel = $('channel').value;
    state.cursor = null;
    state.generation++;
    state.nodes.clear();
    state.maxId = 0;
    $('messages').replaceChildren();
    document.body.dataset.ready = 'false';
    poll();
  }

  async function send(ev) {
    ev.preventDefault();
    var input = $('text');
    var text = input.value;
    if (!text.trim()) return;
    if (!state.as) { setStatus('Pick a user first.', true); return; }
    input.disabled = true;
    try {
      var out = await api('POST', '/console/api/command', {
        as: state.as, channel: state.channel, text: text, requestId: newRequestId()
      });
      input.value = '';
      setStatus('');
      upsertAll(out.messages);
    } catch (e) { setStatus(e.message, true); }
    finally { input.disabled = false; input.focus(); }
  }

  async function init() {
    var users = (await api('GET', '/console/api/users')).users;
    var channels = (await api('GET', '/console/api/channels')).channels;
    var userSelect = $('user');
    users.forEach(function (u) {
      var o = el('option', null, u.displayName + ' (@' + u.handle + ')'); o.value = u.handle; userSelect.append(o);
    });
    var other = el('option', null, 'Other: type a handle'); other.value = OTHER; userSelect.append(other);
    var channelSelect = $('channel');
    channels.forEach(function (c) { var o = el('option', null, '#' + c); o.value = c; channelSelect.append(o); });
    var project = channels.filter(function (c) { return c !== 'general'; })[0];
    if (project) channelSelect.value = project;
    userSelect.addEventListener('change', function () {
      $('handle').hidden = userSelect.value !== OTHER;
      if (userSelect.value === OTHER) $('handle').focus();
      reset();
    });
    $('handle').addEventListener('change', reset);
    channelSelect.addEventListener('change', reset);
    $('composer').addEventListener('submit', send);
    reset();
  }

  init().catch(function (e) { setStatus('Cannot start the console: ' + e.message, true); });
})();
`;
