/* switchboard chat widget, docs/widget.md. <script src="https://HOST/widget.js"
 * data-widget-id="<uuid>" [data-api-base="https://..."] async></script> */
(() => {
'use strict';
if (window.SwitchboardWidget) return;
const script = document.currentScript || document.querySelector('script[data-widget-id]');
const attr = (n) => (script && script.getAttribute(n)) || '';
const wid = attr('data-widget-id').trim();
const api = (attr('data-api-base') || new URL((script && script.src) || location.href, location.href).origin)
  .replace(/\/+$/, '') + '/api/widget/' + encodeURIComponent(wid);
const KEY = 'switchboard.widget.' + wid;

let state = 'loading', err = null, cfg = null, sess = null, pending = null;
let gen = 0, renewed = false, streamCtl = null, cursor = null, retryMs = 2000;
const msgs = [], rows = new Map();

const SVG = 'http://www.w3.org/2000/svg';
const el = (tag, attrs, text, ns) => {
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text != null) e.textContent = text;
  return e;
};
const CSS = `:host{all:initial}
.root{--c:#2563eb;position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;flex-direction:column;align-items:flex-end;font:14px/1.4 system-ui,sans-serif;color:#111}
button{font:inherit;border:0;cursor:pointer;background:var(--c);color:#fff}
.launch{width:56px;height:56px;border-radius:50%;display:grid;place-items:center;box-shadow:0 4px 14px #0004}
.panel{display:none;flex-direction:column;width:min(340px,90vw);height:min(480px,80vh);margin-bottom:12px;background:#fff;border-radius:12px;box-shadow:0 8px 30px #0004;overflow:hidden}
.open .panel{display:flex}
.head{background:var(--c);color:#fff;padding:10px 14px;display:flex;align-items:center}
.head div{flex:1}.head small{display:block;opacity:.85}.head button{font-size:20px}
.list{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:6px;background:#f6f7f9}
.greet{color:#555;font-style:italic}.greet:empty,.note:empty{display:none}
.row{display:flex;flex-direction:column;max-width:80%}
.in{align-self:flex-end;align-items:flex-end}.out{align-self:flex-start}
.msg{padding:7px 11px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere}
.in .msg{background:var(--c);color:#fff}.out .msg{background:#fff;border:1px solid #ddd}
.row a{font-size:12px;color:#333}
.img{max-width:100%;border-radius:8px;margin-top:4px}
.card{display:flex;flex-direction:column;gap:2px;margin-top:4px;padding:6px;background:#fff;border:1px solid #ddd;border-radius:10px}
.card small{color:#555}
.btns{display:flex;flex-wrap:wrap;gap:4px;margin-top:4px}
.btn{font-size:13px;padding:4px 10px;border-radius:12px;background:#fff;color:var(--c);border:1px solid var(--c);text-decoration:none}
.note{padding:6px 12px;font-size:12px;color:#b42318}
.again{background:none;color:var(--c);text-decoration:underline;font-size:12px;padding:0 12px 6px;text-align:left}
form{display:flex;gap:6px;padding:10px;border-top:1px solid #ddd}
input{flex:1;min-width:0;font:inherit;padding:8px;border:1px solid #ccd;border-radius:8px}
form button{border-radius:8px;padding:0 14px}
:disabled{opacity:.5;cursor:default}`;

const host = el('div', {'data-sb-widget-host': ''});
const shadow = host.attachShadow({mode: 'open'});
try { // an adopted sheet needs no 'unsafe-inline' in the page's style-src
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  shadow.adoptedStyleSheets = [sheet];
} catch (e) { shadow.append(el('style', null, CSS)); }
const root = el('div', {class: 'root', 'data-sb-widget': '', 'data-sb-state': state});
const panel = el('div', {class: 'panel', role: 'dialog', 'aria-label': 'Chat'});
const head = el('div', {class: 'head'}), titles = el('div');
const title = el('b', null, 'Chat'), sub = el('small');
const closeBtn = el('button', {type: 'button', 'aria-label': 'Close'}, '\u00d7');
const list = el('div', {class: 'list', 'aria-live': 'polite'});
const greet = el('div', {class: 'greet'});
const note = el('div', {class: 'note', role: 'status'});
const again = el('button', {class: 'again', type: 'button', hidden: ''}, 'Send a new code');
const form = el('form');
const input = el('input', {'data-sb-input': '', maxlength: '4096', 'aria-label': 'Message'});
const sendBtn = el('button', {'data-sb-send': '', type: 'submit'}, 'Send');
const launcher = el('button', {class: 'launch', type: 'button', 'data-sb-launcher': '',
  'aria-label': 'Chat', 'aria-expanded': 'false'});
const icon = el('svg', {viewBox: '0 0 24 24', width: 26, height: 26, 'aria-hidden': 'true'}, null, SVG);
icon.append(el('path', {fill: 'currentColor', d: 'M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z'}, null, SVG));
launcher.append(icon);
titles.append(title, sub);
head.append(titles, closeBtn);
list.append(greet);
form.append(input, sendBtn);
panel.append(head, list, note, again, form);
root.append(panel, launcher);
shadow.append(root);

// input type, autocomplete, inputmode, placeholder, button
const UI = {
  'otp-phone': ['tel', 'tel', 'tel', 'Phone, e.g. +905551234567', 'Send code'],
  'otp-code': ['text', 'one-time-code', 'numeric', '6-digit code', 'Verify'],
  ready: ['text', 'off', 'text', 'Type a message\u2026', 'Send'],
};
function setState(s, message) {
  state = s;
  err = s === 'error' ? message : null;
  root.setAttribute('data-sb-state', s);
  host.setAttribute('data-sb-state', s);
  const ui = UI[s];
  input.disabled = sendBtn.disabled = !ui;
  if (ui) [input.type, input.autocomplete, input.inputMode, input.placeholder, sendBtn.textContent] = ui;
  again.hidden = s !== 'otp-code';
  note.textContent = message || (s === 'loading' ? 'Connecting\u2026' : '');
}
const fail = (message) => setState('error', message);

function open() {
  root.classList.add('open');
  launcher.setAttribute('aria-expanded', 'true');
  if ((state === 'error' || state === 'idle') && wid) boot(true); // retry, or the first open
  list.scrollTop = list.scrollHeight;
  if (!input.disabled) input.focus();
}
function close() {
  root.classList.remove('open');
  launcher.setAttribute('aria-expanded', 'false');
}
launcher.addEventListener('click', () => (root.classList.contains('open') ? close() : open()));
closeBtn.addEventListener('click', close);
again.addEventListener('click', () => { pending = null; setState('otp-phone'); });
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const v = input.value;
  if (!v.trim()) return;
  input.value = '';
  send(v).catch(() => { if (!input.value) input.value = v; });
});

// ---- messages, ordered and deduplicated by seq
function add(m) {
  if (!m || typeof m.seq !== 'number' || rows.has(m.seq)) return;
  const it = {seq: m.seq, direction: m.direction === 'in' ? 'in' : 'out',
    text: typeof m.text === 'string' ? m.text : ''};
  let i = msgs.length;
  while (i > 0 && msgs[i - 1].seq > it.seq) i--;
  const next = msgs[i] ? rows.get(msgs[i].seq) : null;
  msgs.splice(i, 0, it);
  const row = el('div', {class: 'row ' + it.direction});
  row.append(el('div', {class: 'msg', 'data-sb-seq': String(it.seq), 'data-sb-direction': it.direction},
    it.text));
  for (const a of Array.isArray(m.attachments) ? m.attachments : []) {
    if (!a || !httpUrl(a.url)) continue;
    if (a.type === 'image') row.append(el('img', {class: 'img', src: a.url, alt: a.name || 'image'}));
    else row.append(el('a', {href: a.url, target: '_blank', rel: 'noopener noreferrer'}, a.name || a.url));
  }
  if (it.direction === 'out') {
    buttons(row, m.buttons);
    for (const c of Array.isArray(m.cards) ? m.cards : []) {
      if (!c || typeof c.title !== 'string') continue;
      const card = el('div', {class: 'card', 'data-sb-card': ''});
      if (httpUrl(c.imageUrl)) card.append(el('img', {class: 'img', src: c.imageUrl, alt: c.title}));
      const t = httpUrl(c.itemUrl) ? el('a', {href: c.itemUrl, target: '_blank', rel: 'noopener noreferrer'}, c.title)
        : el('b', null, c.title);
      card.append(t);
      if (typeof c.subtitle === 'string') card.append(el('small', null, c.subtitle));
      buttons(card, c.buttons);
      row.append(card);
    }
  }
  rows.set(it.seq, row);
  list.insertBefore(row, next);
  list.scrollTop = list.scrollHeight;
}
function httpUrl(u) { return typeof u === 'string' && /^https?:\/\//i.test(u); }
// a message's buttons: a link opens its URL; a postback sends the click back as a message
function buttons(parent, list) {
  if (!Array.isArray(list) || !list.length) return;
  const box = el('div', {class: 'btns'});
  for (const b of list) {
    if (!b || typeof b.title !== 'string') continue;
    if (b.type === 'url' && httpUrl(b.url)) {
      box.append(el('a', {class: 'btn', href: b.url, target: '_blank', rel: 'noopener noreferrer'}, b.title));
    } else if (typeof b.payload === 'string') {
      const btn = el('button', {type: 'button', class: 'btn', 'data-sb-postback': b.payload}, b.title);
      btn.addEventListener('click', () => { postback(b.title, b.payload).catch(() => {}); });
      box.append(btn);
    }
  }
  parent.append(box);
}
function clearMessages() {
  msgs.length = 0;
  rows.forEach((r) => r.remove());
  rows.clear();
  cursor = null;
}

// ---- HTTP
const opts = {credentials: 'omit', cache: 'no-store', referrerPolicy: 'strict-origin'};
async function call(method, path, body, token) {
  const headers = {};
  if (body) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  try {
    const res = await fetch(api + path, {...opts, method, headers, body: body && JSON.stringify(body)});
    const data = await res.json().catch(() => null);
    return {status: res.status, ok: res.ok, data: data || {}};
  } catch (e) {
    return {status: 0, ok: false, data: {}}; // network error or CORS refusal
  }
}
const why = (r) => r.status ? r.data.detail || r.data.title || 'HTTP ' + r.status
  : 'Cannot reach the chat server.';
function store(v) { // get (), set (obj), drop (null)
  try {
    if (v === undefined) {
      const s = JSON.parse(localStorage.getItem(KEY));
      return s && typeof s.token === 'string' ? s : null;
    }
    if (v) localStorage.setItem(KEY, JSON.stringify(v)); else localStorage.removeItem(KEY);
  } catch (e) { return null; }
}

// ---- session. A visitor who never opens the chat costs no session: a stored one is resumed at
// once, a new one starts at the first open() or send().
async function boot(start) {
  const g = ++gen;
  if (streamCtl) streamCtl.abort();
  setState('loading');
  if (!wid) return fail('data-widget-id is missing.');
  if (!cfg) {
    const r = await call('GET', '/config');
    if (g !== gen) return;
    if (!r.ok) return fail(r.status === 403 ? 'Not available on this site.' : why(r));
    cfg = r.data;
    title.textContent = cfg.name || 'Chat';
    sub.textContent = cfg.agentName || '';
    greet.textContent = cfg.greeting || '';
  }
  sess = store();
  if (!sess) {
    if (cfg.otpRequired) return setState('otp-phone');
    if (!start && !root.classList.contains('open')) return setState('idle');
    const r = await call('POST', '/session/start', {});
    if (g !== gen) return;
    if (r.status !== 201 || !r.data.token) return fail(why(r));
    store(sess = {token: r.data.token, sessionId: r.data.sessionId});
  }
  return history(g);
}

// a session route said 401 (bad token) or 403 (OTP not verified)
function lost(status) {
  store(null);
  sess = null;
  if (status === 403 && !cfg.otpRequired) return fail('Access denied.');
  if (renewed) return fail('Session lost.');
  renewed = true; // once, until a session works again
  clearMessages();
  return boot(true);
}

async function history(g) {
  for (let after = null; ;) {
    const r = await call('GET', '/messages?limit=100' + (after == null ? '' : '&after=' + after),
      null, sess.token);
    if (g !== gen) return;
    if (r.status === 401 || r.status === 403) return lost(r.status);
    if (!r.ok) return fail(why(r));
    const items = Array.isArray(r.data.items) ? r.data.items : [];
    items.forEach(add);
    if (!r.data.hasMore || !items.length) break;
    after = items[items.length - 1].seq;
  }
  // the stream resumes after the history ("0" if empty): no gap
  cursor = String(msgs.length ? msgs[msgs.length - 1].seq : 0);
  renewed = false;
  setState('ready');
  stream(g);
}

async function otp(path, body) {
  const g = gen;
  sendBtn.disabled = true;
  const r = await call('POST', path, body);
  if (g !== gen) throw new Error('restarted');
  return r;
}

// send(text): a chat message when ready; the phone number or the code in the OTP steps
async function send(text) {
  text = text == null ? '' : String(text);
  if (state === 'idle') await boot(true);
  if (state === 'otp-phone') {
    const r = await otp('/session/start', {mode: 'otp', phone: text.trim()});
    if (r.status !== 201 || !r.data.token) { setState('otp-phone', why(r)); throw new Error(why(r)); }
    pending = {token: r.data.token, sessionId: r.data.sessionId};
    return setState('otp-code', 'We sent a code to ' + text.trim() + '.');
  }
  if (state === 'otp-code') {
    const r = await otp('/session/otp-verify', {sessionId: pending.sessionId, code: text.trim()});
    if (r.ok) {
      store(sess = pending);
      pending = null;
      setState('loading');
      return history(gen);
    }
    const left = r.data.attemptsLeft;
    const msg = r.status === 429 ? 'Too many attempts; try again later.'
      : r.status === 401 ? 'Wrong or expired code.' + (left >= 0 ? ' Attempts left: ' + left : '') : why(r);
    if (r.status === 429 || left === 0) pending = null;
    setState(pending ? 'otp-code' : 'otp-phone', msg);
    throw new Error(msg);
  }
  if (state !== 'ready') throw new Error('widget is ' + state);
  if (!text.trim()) throw new Error('empty message');
  return post({text});
}

async function post(body) {
  const g = gen;
  const r = await call('POST', '/messages', body, sess.token);
  if (r.status === 401 || r.status === 403) {
    if (g === gen) lost(r.status);
    throw new Error('session lost');
  }
  note.textContent = r.status === 201 ? '' : why(r);
  if (r.status !== 201) throw new Error(why(r));
  add(r.data);
  return r.data;
}

// postback(title, payload): a click on a button, sent as the customer's message
async function postback(title, payload) {
  if (state !== 'ready') throw new Error('widget is ' + state);
  return post({postback: {title, payload}});
}

// ---- Server-Sent Events over fetch (headers: Authorization, Last-Event-ID)
async function stream(g) {
  for (let fails = 0; g === gen;) {
    const ctl = streamCtl = new AbortController();
    let opened = false;
    try {
      const headers = {Authorization: 'Bearer ' + sess.token, Accept: 'text/event-stream'};
      if (cursor != null) headers['Last-Event-ID'] = cursor;
      const res = await fetch(api + '/events', {...opts, headers, signal: ctl.signal});
      if (g !== gen) return;
      if (res.status === 401 || res.status === 403) return lost(res.status);
      if (res.ok && res.body) {
        opened = true;
        await readEvents(res.body.getReader(), ctl, g);
      }
    } catch (e) { /* network error or abort: reconnect */ }
    if (g !== gen) return;
    fails = opened ? 0 : fails + 1;
    await new Promise((res) => setTimeout(res,
      Math.min(30000, retryMs * 2 ** fails) * (0.75 + Math.random() / 2)));
  }
}

async function readEvents(reader, ctl, g) {
  const dec = new TextDecoder();
  let buf = '', data = null, type = '', id = null, dog = 0, m;
  const watch = () => { clearTimeout(dog); dog = setTimeout(() => ctl.abort(), 45000); };
  try {
    for (watch(); ;) { // ": ping" every 15 s: 45 s of silence is a dead connection
      const {value, done} = await reader.read();
      if (done || g !== gen) return;
      watch();
      buf += dec.decode(value, {stream: true});
      while ((m = /\r\n|\r|\n/.exec(buf))) {
        if (m[0] === '\r' && m.index === buf.length - 1) break; // maybe half of a CRLF
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (!line) { // a blank line ends the event
          if (data != null && (type || 'message') === 'message') {
            try { add(JSON.parse(data)); } catch (e) { /* not JSON */ }
          }
          if (id) cursor = id;
          data = null;
          type = '';
        } else if (line[0] !== ':') { // ':' starts a comment
          const c = line.indexOf(':');
          const f = c < 0 ? line : line.slice(0, c);
          const v = c < 0 ? '' : line.slice(c + (line[c + 1] === ' ' ? 2 : 1));
          if (f === 'data') data = data == null ? v : data + '\n' + v;
          else if (f === 'event') type = v;
          else if (f === 'id' && !v.includes('\0')) id = v;
          else if (f === 'retry' && /^\d+$/.test(v)) retryMs = Math.max(500, +v);
        }
      }
    }
  } finally {
    clearTimeout(dog);
    reader.cancel().catch(() => {});
  }
}

window.SwitchboardWidget = {
  open, close, send, postback,
  messages: () => msgs.map(({seq, direction, text}) => ({seq, direction, text})),
  state: () => state,
  error: () => err,
  sessionId: () => (sess && sess.sessionId) || null,
};
const mount = () => { document.body.append(host); boot(); };
if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
