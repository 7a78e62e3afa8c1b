// The Tools page: open tool sessions and work with each in its own pane, as in NetAssist:
// a log with text/hex/time toggles in the chosen encoding, byte counters, Clear, a send
// form with an explicit Repeat switch. Sessions live in the server: a reload reattaches.
// Every request names the form it came from (ref); its error is shown next to that form.
import { liveSocket } from './live.js';
import { $, button, el, loadPref, savePref } from './common.js';
import { SessionLog } from './tools-log.js';
import { forgetSessionTargets, onAutoreply, rememberSessionRules, setupAutoreply } from './tools-autoreply.js';

const sessionsEl = $('sessions');
const template = $('session-template');
const panels = new Map(); // session id -> panel
const early = new Map(); // events that came before their session's first state
const SAVED_KEY = 'sockdash.tools.saved';
const VIEW_KEY = 'sockdash.tools.view'; // the last chosen toggles are the next pane's
const numbers = new Intl.NumberFormat('en-US');
let focusWhenShown = null; // the session this page just opened: shown and focused once it appears

// ---- errors next to their form ------------------------------------------------------------------
const errorSlots = new Map(); // ref -> element

function registerForm(ref, container) {
  errorSlots.set(ref, container.querySelector('.form-error'));
}

function showError(ref, text) {
  const slot = errorSlots.get(ref) ?? $('tools-error');
  slot.textContent = text;
}

function request(ref, message) {
  showError(ref, ''); // a new try: the last one's error is stale
  socket.send({ ...message, ref });
}

// ---- saved messages ---------------------------------------------------------------------------
// [{text, kind, line_ending}], strings all; anything else stored under the key is dropped
const isSavedMessage = (m) => m !== null && typeof m === 'object'
  && ['text', 'kind', 'line_ending'].every((field) => typeof m[field] === 'string');

function savedMessages() {
  return loadPref(SAVED_KEY, []).filter(isSavedMessage);
}

function renderSaved(panel) {
  panel.root.querySelector('.saved').replaceChildren(...savedMessages().map((m) => {
    const li = el('li');
    li.append(button(m.text.length > 30 ? `${m.text.slice(0, 30)}…` : m.text, `Load saved message ${m.text}`, () => {
      const f = panel.form.elements;
      f.text.value = m.text;
      f.kind.value = m.kind;
      f.line_ending.value = m.line_ending;
      f.text.focus();
    }));
    return li;
  }));
}

// ---- one pane per session ---------------------------------------------------------------------
function viewDefaults() {
  const view = { text: true, hex: false, time: true };
  const stored = loadPref(VIEW_KEY, {});
  for (const name of Object.keys(view)) if (typeof stored[name] === 'boolean') view[name] = stored[name];
  return view;
}

function setupView(panel) {
  const { root, log } = panel;
  const defaults = viewDefaults();
  for (const name of ['text', 'hex', 'time']) {
    const box = root.querySelector(`input[name=show-${name}]`);
    box.checked = defaults[name];
    log.list.classList.toggle(`show-${name}`, box.checked);
    box.addEventListener('change', () => {
      log.list.classList.toggle(`show-${name}`, box.checked);
      savePref(VIEW_KEY, { ...viewDefaults(), [name]: box.checked });
    });
  }
  const encoding = root.querySelector('select[name=encoding]');
  encoding.addEventListener('change', () => {
    showEncoding(panel, encoding.value);
    request(`session-${panel.id}`, { type: 'encoding', session: panel.id, encoding: encoding.value }); // kept by the session
  });
}

// The log shown again in the session's encoding (which is also the one text is sent in).
function showEncoding(panel, encoding) {
  panel.root.querySelector('select[name=encoding]').value = encoding;
  if (panel.log.encoding === encoding) return;
  panel.log.setEncoding(encoding);
  panel.log.reset();
}

function setupSend(panel, id) {
  const { root, form } = panel;
  const f = form.elements;
  const ref = `session-${id}`;
  registerForm(ref, root);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const to = panel.kind === 'udp' ? f.to.value : panel.kind === 'tcp-server' ? f.client.value : '';
    const message = { type: 'send', session: id, text: f.text.value, kind: f.kind.value,
      encoding: root.querySelector('select[name=encoding]').value, line_ending: f.line_ending.value, to };
    if (f.repeat.checked) message.repeat = { every_ms: Number(f.every_ms.value), count: Number(f.count.value) };
    request(ref, message);
  });
  f.repeat.addEventListener('change', () => {
    root.querySelector('.repeat-options').hidden = !f.repeat.checked;
    if (!f.repeat.checked && panel.repeating) request(ref, { type: 'stop', session: id }); // off means off
  });
  root.querySelector('.stop').addEventListener('click', () => request(ref, { type: 'stop', session: id }));
  root.querySelector('.save').addEventListener('click', () => {
    const saved = savedMessages().filter((m) => m.text !== f.text.value);
    saved.unshift({ text: f.text.value, kind: f.kind.value, line_ending: f.line_ending.value });
    savePref(SAVED_KEY, saved.slice(0, 30));
    for (const p of panels.values()) renderSaved(p);
  });
  root.querySelector('.kick').addEventListener('click', () => {
    if (f.client.value) request(ref, { type: 'kick', session: id, peer: f.client.value });
    else showError(ref, 'choose the client to kick');
  });
  root.querySelector('.session-clear').addEventListener('click', () => request(ref, { type: 'clear', session: id }));
  root.querySelector('.session-close').addEventListener('click', () => request(ref, { type: 'close', session: id }));
}

function panelFor(s) {
  const existing = panels.get(s.id);
  if (existing && existing.kind === s.kind && existing.label === s.label) return existing;
  existing?.root.remove(); // after a server restart the same id is another session
  const root = template.content.firstElementChild.cloneNode(true);
  root.dataset.session = s.id;
  const title = root.querySelector('.session-title');
  title.id = `session-title-${s.id}`;
  title.textContent = s.label;
  root.setAttribute('aria-labelledby', title.id);
  const list = root.querySelector('.session-log');
  list.setAttribute('aria-label', `Log of ${s.label}`);
  const panel = { id: s.id, root, kind: s.kind, label: s.label, form: root.querySelector('form.session-send'),
    log: new SessionLog(list), repeating: 0 };
  panels.set(s.id, panel);
  setupView(panel);
  setupSend(panel, s.id);
  label(root, s.label);
  sessionsEl.prepend(root); // newest first
  $('no-sessions').hidden = true;
  renderSaved(panel);
  const pending = early.get(s.id) ?? [];
  early.delete(s.id);
  pending.forEach((e) => panel.log.add(e)); // now, in order: before any later event
  return panel;
}

// Buttons whose visible text repeats in every pane get the session's name too.
function label(root, name) {
  const names = { '.session-clear': 'Clear log and counters of', '.stop': 'Stop repeating on',
    '.save': 'Save message of', '.kick': 'Kick client of', 'form.session-send button.send': 'Send on' };
  for (const [selector, text] of Object.entries(names)) root.querySelector(selector).setAttribute('aria-label', `${text} ${name}`);
  root.querySelector('.tftp-progress').setAttribute('aria-label', `Progress of ${name}`);
}

function showCounters(panel, c) {
  panel.counters = { ...c };
  const { root } = panel;
  root.querySelector('.rx').textContent = `RX ${numbers.format(c.rx_bytes)} B (${numbers.format(c.rx_count)})`;
  root.querySelector('.tx').textContent = `TX ${numbers.format(c.tx_bytes)} B (${numbers.format(c.tx_count)})`;
  root.querySelector('.session-counters').title = `received ${c.rx_bytes} bytes in ${c.rx_count} reads, `
    + `sent ${c.tx_bytes} bytes in ${c.tx_count} sends`;
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
  }
  root.dataset.open = s.open ? 'yes' : 'no';
  root.dataset.kind = s.kind;
  for (const part of ['.session-view', '.session-counters', '.session-clear']) {
    root.querySelector(part).hidden = s.kind === 'tftp'; // a job has a progress bar and a few lines, no data
  }
  root.querySelector('.session-state').textContent = s.open ? 'open' : 'closed';
  const close = root.querySelector('.session-close');
  close.textContent = s.open ? 'Close' : 'Remove';
  close.setAttribute('aria-label', `${s.open ? 'Close' : 'Remove'} ${s.label}`);
  if (s.counters) showCounters(panel, s.counters);
  if (s.encoding) showEncoding(panel, s.encoding);
  const sendable = s.open && s.kind !== 'tftp';
  panel.form.hidden = !sendable;
  root.querySelector('.saved').hidden = !sendable;
  root.querySelector('.to').hidden = s.kind !== 'udp';
  root.querySelector('.to-client').hidden = s.kind !== 'tcp-server';
  panel.repeating = s.repeating ?? 0;
  root.querySelector('.stop').hidden = !(sendable && panel.repeating > 0);
  if (s.kind === 'tcp-server') {
    const select = panel.form.elements.client;
    const current = select.value;
    select.replaceChildren(new Option('all clients', ''), ...s.peers.map((p) => new Option(p, p)));
    select.value = s.peers.includes(current) ? current : '';
  }
  if (focusWhenShown === s.id) showNewPanel(panel, sendable);
}

function showNewPanel(panel, sendable) {
  focusWhenShown = null;
  panel.root.scrollIntoView({ block: 'start' });
  (sendable ? panel.form.elements.text : panel.root.querySelector('.session-close')).focus({ preventScroll: true });
}

function addEvent(id, e) {
  const panel = panels.get(id);
  if (!panel) {
    if (!early.has(id)) early.set(id, []);
    early.get(id).push(e);
    return;
  }
  panel.log.add(e);
  if (panel.counters && (e.direction === 'in' || e.direction === 'out')) {
    const c = panel.counters;
    const side = e.direction === 'in' ? 'rx' : 'tx';
    showCounters(panel, { ...c, [`${side}_bytes`]: c[`${side}_bytes`] + e.length, [`${side}_count`]: c[`${side}_count`] + 1 });
  }
}

function removePanel(id) {
  panels.get(id)?.root.remove();
  panels.delete(id);
  $('no-sessions').hidden = panels.size > 0;
}

function onSessions(sessions) {
  early.clear();
  forgetSessionTargets(); // after a restart the ids start again: no stale rule targets
  const ids = new Set(sessions.map((s) => s.id));
  for (const id of [...panels.keys()]) if (!ids.has(id)) removePanel(id);
  for (const s of [...sessions].sort((a, b) => a.id - b.id)) {
    applyState(s);
    panels.get(s.id).log.reset(s.events); // typed text and toggles stay: only the log is new
  }
  $('no-sessions').hidden = panels.size > 0;
}

const socket = liveSocket('/ws/tools', (m) => {
  if (m.type === 'sessions') {
    onSessions(m.sessions);
  } else if (m.type === 'updates') {
    for (const u of m.updates) {
      if (u.removed) removePanel(u.removed);
      else if (u.state) applyState(u.state);
      else if (u.cleared) panels.get(u.session)?.log.clear();
      else if (u.event) addEvent(u.session, u.event);
    }
  } else if (m.type === 'autoreply') {
    onAutoreply(m);
  }
  if (m.type === 'error') {
    showError(m.ref, m.text);
  } else if (m.ref) {
    showError(m.ref, ''); // done: nothing stale stays next to the form
  }
  if (m.type === 'opened') {
    focusWhenShown = m.session;
    const panel = panels.get(m.session);
    if (panel) showNewPanel(panel, !panel.form.hidden);
  }
});

// ---- the forms that open sessions -------------------------------------------------------------
function openForm(id, build) {
  const form = $(id);
  registerForm(id, form);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    request(id, build(form.elements));
  });
}
openForm('open-tcp-client', (f) => ({ type: 'open', tool: 'tcp-client', host: f.host.value, port: Number(f.port.value) }));
openForm('open-tcp-server', (f) => ({ type: 'open', tool: 'tcp-server', port: Number(f.port.value) }));
openForm('open-udp', (f) => ({ type: 'open', tool: 'udp', port: Number(f.port.value) }));
openForm('open-tftp', (f) => ({ type: 'tftp', server: f.server.value, action: f.action.value, remote: f.remote.value,
  local: f.local.value, blksize: f.blksize.value, windowsize: f.windowsize.value }));

registerForm('autoreply', $('autoreply-form'));
setupAutoreply((message) => request('autoreply', message), (text) => showError('autoreply', text));
