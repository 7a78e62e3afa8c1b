// The Tools page: open tool sessions, see what they receive (text and hex), send.
// Sessions live in the server: a reload reattaches to them. Network bytes reach the page
// only through textContent.
import { liveSocket } from './live.js';

const $ = (id) => document.getElementById(id);
const sessionsEl = $('sessions');
const template = $('session-template');
const panels = new Map(); // session id -> { root, state }
const SAVED_KEY = 'sockdash.tools.saved';
const decoder = new TextDecoder('utf-8');

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function eventItem(e) {
  const li = document.createElement('li');
  li.dataset.dir = e.direction;
  const time = new Date(e.time * 1000).toLocaleTimeString();
  const dir = Object.assign(document.createElement('span'), { className: 'dir',
    textContent: e.direction === 'in' ? '→ in ' : e.direction === 'out' ? '← out' : '• ' });
  li.append(`${time} `, dir, ` ${e.peer} `);
  if (e.direction === 'info') {
    li.append(e.info);
  } else {
    const bytes = hexToBytes(e.hex);
    const text = Object.assign(document.createElement('span'), { className: 'text',
      textContent: decoder.decode(bytes).replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '·') });
    const hex = Object.assign(document.createElement('span'), { className: 'hex',
      textContent: ` [${bytes.length} B: ${e.hex.match(/../g)?.join(' ') ?? ''}]` });
    li.append(text, hex);
  }
  return li;
}

function savedMessages() {
  return JSON.parse(localStorage.getItem(SAVED_KEY) || '[]');
}

function renderSaved(panel) {
  const list = panel.root.querySelector('.saved');
  list.replaceChildren(...savedMessages().map((m) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = m.text.length > 30 ? `${m.text.slice(0, 30)}…` : m.text;
    b.setAttribute('aria-label', `Load saved message ${m.text}`);
    b.addEventListener('click', () => {
      const form = panel.root.querySelector('form.session-send');
      for (const key of ['text', 'kind', 'encoding', 'line_ending']) form.elements[key].value = m[key];
    });
    li.append(b);
    return li;
  }));
}

function panelFor(s) {
  if (panels.has(s.id)) return panels.get(s.id);
  const root = template.content.firstElementChild.cloneNode(true);
  root.dataset.session = s.id;
  root.setAttribute('aria-label', s.label);
  const form = root.querySelector('form.session-send');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = form.elements;
    const to = s.kind === 'udp' ? root.querySelector('.to input').value
      : s.kind === 'tcp-server' ? root.querySelector('.to-client select').value : '';
    socket.send({ type: 'send', session: s.id, text: f.text.value, kind: f.kind.value, encoding: f.encoding.value,
      line_ending: f.line_ending.value, to, repeat: { every_ms: Number(f.every_ms.value), count: Number(f.count.value) } });
  });
  root.querySelector('.save').addEventListener('click', () => {
    const f = form.elements;
    const saved = savedMessages().filter((m) => m.text !== f.text.value);
    saved.unshift({ text: f.text.value, kind: f.kind.value, encoding: f.encoding.value, line_ending: f.line_ending.value });
    localStorage.setItem(SAVED_KEY, JSON.stringify(saved.slice(0, 30)));
    for (const p of panels.values()) renderSaved(p);
  });
  root.querySelector('.kick').addEventListener('click', () => {
    const peer = root.querySelector('.to-client select').value;
    if (peer) socket.send({ type: 'kick', session: s.id, peer });
  });
  root.querySelector('.session-close').addEventListener('click', () => socket.send({ type: 'close', session: s.id }));
  const panel = { root, kind: s.kind };
  panels.set(s.id, panel);
  sessionsEl.prepend(root);
  renderSaved(panel);
  const pending = early.get(s.id) || [];
  early.delete(s.id);
  setTimeout(() => pending.forEach((e) => addEvent(s.id, e)));
  return panel;
}

function applyState(s) {
  const panel = panelFor(s);
  const { root } = panel;
  rememberSessionRules(s);
  const bar = root.querySelector('.tftp-progress');
  bar.hidden = s.kind !== 'tftp';
  if (s.kind === 'tftp' && s.progress) {
    const [done, total] = s.progress;
    if (total) { bar.max = total; bar.value = done; } else bar.removeAttribute('value');
    bar.setAttribute('aria-label', `Progress of ${s.label}`);
  }
  root.querySelector('.session-title').textContent = s.label;
  root.querySelector('.session-state').textContent = s.open ? 'open' : 'closed';
  root.querySelector('.session-close').textContent = s.open ? 'Close' : 'Remove';
  root.querySelector('.session-close').setAttribute('aria-label', `${s.open ? 'Close' : 'Remove'} ${s.label}`);
  const sendable = s.open && s.kind !== 'tftp';
  root.querySelector('form.session-send').hidden = !sendable;
  root.querySelector('.saved').hidden = !sendable;
  root.querySelector('.to').hidden = s.kind !== 'udp';
  root.querySelector('.to-client').hidden = s.kind !== 'tcp-server';
  root.querySelector('.kick').hidden = s.kind !== 'tcp-server';
  root.querySelector('form.session-send button[type=submit]').setAttribute('aria-label', `Send on ${s.label}`);
  if (s.kind === 'tcp-server') {
    const select = root.querySelector('.to-client select');
    const current = select.value;
    select.replaceChildren(new Option('all clients', ''), ...s.peers.map((p) => new Option(p, p)));
    select.value = s.peers.includes(current) ? current : '';
  }
}

const early = new Map(); // events that came before their session's first state

function addEvent(id, e) {
  const panel = panels.get(id);
  if (!panel) {
    if (!early.has(id)) early.set(id, []);
    early.get(id).push(e);
    return;
  }
  const log = panel.root.querySelector('.session-log');
  log.append(eventItem(e));
  while (log.children.length > 500) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

const socket = liveSocket('/ws/tools', (m) => {
  if (m.type === 'sessions') {
    panels.forEach((p) => p.root.remove());
    panels.clear();
    early.clear();
    forgetSessionTargets(); // after a restart the ids start again: no stale rule targets
    for (const s of m.sessions) {
      applyState(s);
      s.events.forEach((e) => addEvent(s.id, e));
    }
  } else if (m.type === 'updates') {
    for (const u of m.updates) {
      if (u.removed) {
        panels.get(u.removed)?.root.remove();
        panels.delete(u.removed);
      } else if (u.state) {
        applyState(u.state);
      } else if (u.event) {
        addEvent(u.session, u.event);
      }
    }
  } else if (m.type === 'autoreply') {
    onAutoreply(m); // the feed starts after this module has run: the rules' state exists
  } else if (m.type === 'error') {
    $('tools-error').textContent = m.text;
  } else if (m.type === 'opened') {
    $('tools-error').textContent = '';
  }
});

function openForm(id, build) {
  $(id).addEventListener('submit', (e) => {
    e.preventDefault();
    socket.send(build(e.target.elements));
  });
}
openForm('open-tcp-client', (f) => ({ type: 'open', tool: 'tcp-client', host: f.host.value, port: Number(f.port.value) }));
openForm('open-tcp-server', (f) => ({ type: 'open', tool: 'tcp-server', port: Number(f.port.value) }));
openForm('open-udp', (f) => ({ type: 'open', tool: 'udp', port: Number(f.port.value) }));
openForm('open-tftp', (f) => ({ type: 'tftp', server: f.server.value, action: f.action.value, remote: f.remote.value,
  local: f.local.value, blksize: f.blksize.value, windowsize: f.windowsize.value }));

// ---- auto-responses -----------------------------------------------------------------------------
const serviceRules = {};
const sessionRules = {};

function rulesToText(rules) {
  return rules.map((r) => (r.match === 'any' ? `any => ${r.reply}` : `${r.match} ${r.pattern} => ${r.reply}`)).join('\n');
}

function textToRules(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
    const cut = line.indexOf('=>');
    if (cut < 0) throw new Error(`"${line}": write MATCH [PATTERN] => REPLY`);
    const head = line.slice(0, cut).trim();
    const reply = line.slice(cut + 2).trim();
    const space = head.indexOf(' ');
    const match = space < 0 ? head : head.slice(0, space);
    const pattern = space < 0 ? '' : head.slice(space + 1).trim();
    return { match, pattern, reply };
  });
}

function showRules() {
  const target = $('autoreply-target').value;
  const rules = serviceRules[target] ?? sessionRules[target] ?? [];
  $('autoreply-rules').value = rulesToText(rules);
}

function rememberSessionRules(s) {
  if (s.kind !== 'tcp-server' && s.kind !== 'udp') return;
  sessionRules[String(s.id)] = s.rules;
  const select = $('autoreply-target');
  let option = [...select.options].find((o) => o.value === String(s.id));
  if (!option && s.open) {
    option = new Option(s.label, String(s.id));
    select.append(option);
  }
  if (option && !s.open) option.remove();
}

function forgetSessionTargets() {
  for (const key of Object.keys(sessionRules)) delete sessionRules[key];
  for (const option of [...$('autoreply-target').options]) if (/^\d+$/.test(option.value)) option.remove();
}

$('autoreply-target').addEventListener('change', showRules);
$('autoreply-form').addEventListener('submit', (e) => {
  e.preventDefault();
  let rules;
  try {
    rules = textToRules($('autoreply-rules').value);
  } catch (err) {
    $('autoreply-status').textContent = err.message;
    return;
  }
  socket.send({ type: 'autoreply', target: $('autoreply-target').value, rules });
});
function onAutoreply(m) {
  Object.assign(serviceRules, m.services);
  if (m.saved) $('autoreply-status').textContent = 'saved';
  showRules();
}
