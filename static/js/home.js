// Home: what is happening now (who is connected, running transfers, a sparkline per service),
// then each service with its address, counters, folded connect snippets and, for the admin,
// Stop (after a confirmation that says how many clients it drops) and Start.
import { liveSocket } from './live.js';
import { formatBytes } from './common.js';
import { wireCopyButtons } from './copy.js';
import { formatCount, formatDuration, formatRate } from './format.js';
import { applyTransfers, renderRunning } from './transfers.js';
import { hostsOf, chosenHost, wireHostPicker } from './hosts.js';

const app = document.getElementById('home-app');
const SPARK_SECONDS = 300; // as /api/rates keeps: the last five minutes
const WHO_REFRESH = 5000; // ms between member-list refreshes when nothing else changed
const WHO_SHOWN = 12;
const WHO_SETTLE = 1000; // ms: the second look after the number of chat clients changed
const history = new Map(); // service -> [bytes/s, ...], oldest first
let lastUptime = -1;
let lastClients = '';
let lastWho = 0;
let latest = null; // the last status

function setField(card, field, text) {
  for (const el of card.querySelectorAll(`[data-field="${field}"]`)) el.textContent = text;
}

// An area under the bytes/s of the last five minutes, scaled to its peak; the time before the
// first sample (sockdash had just started) is drawn as the zero it was.
function drawSpark(name) {
  const line = document.querySelector(`#card-${name} .spark polyline`);
  if (!line) return;
  const values = history.get(name) || [];
  const peak = Math.max(1, ...values);
  const offset = SPARK_SECONDS - values.length;
  const points = values.map((v, i) => `${offset + i},${(40 - (36 * v) / peak).toFixed(1)}`);
  line.setAttribute('points', [`0,40`, `${offset},40`, ...points, `${SPARK_SECONDS},40`].join(' '));
}

function addSample(name, bytesPerSecond) {
  const values = history.get(name) || [];
  values.push(bytesPerSecond);
  if (values.length > SPARK_SECONDS) values.splice(0, values.length - SPARK_SECONDS);
  history.set(name, values);
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function renderSummary(services) {
  const count = (name) => (services[name] ? services[name].clients : 0);
  document.getElementById('who-summary').textContent = [
    plural(count('tcp_chat'), 'TCP chat client'), plural(count('udp_chat'), 'UDP chat peer'),
    plural(count('file'), 'file download'), plural(count('tftp'), 'TFTP transfer'),
  ].join(' · ');
}

async function refreshWho() {
  lastWho = Date.now();
  const response = await fetch('/api/chat/rooms').catch(() => null);
  if (!response || !response.ok) return;
  const { rooms } = await response.json();
  const people = new Map(); // nick -> { transport, rooms }
  for (const room of rooms) {
    for (const m of room.members) {
      const person = people.get(m.nick) || { transport: m.transport, rooms: [] };
      person.rooms.push(room.room);
      people.set(m.nick, person);
    }
  }
  const list = document.getElementById('who-list');
  const items = [...people].sort(([a], [b]) => a.localeCompare(b)).slice(0, WHO_SHOWN).map(([nick, p]) => {
    const li = document.createElement('li');
    const badge = document.createElement('span');
    badge.className = `badge ${p.transport}`;
    badge.textContent = p.transport.toUpperCase();
    const name = document.createElement('span');
    name.className = 'nick';
    name.textContent = nick;
    const where = document.createElement('span');
    where.className = 'rooms';
    where.textContent = p.rooms.map((r) => `#${r}`).join(' ');
    li.append(badge, ' ', name, ' ', where);
    return li;
  });
  if (people.size > WHO_SHOWN) {
    const more = document.createElement('li');
    more.className = 'more';
    more.textContent = `and ${people.size - WHO_SHOWN} more`;
    items.push(more);
  }
  if (!items.length) {
    const none = document.createElement('li');
    none.className = 'more';
    none.textContent = 'Nobody is in the chat.';
    items.push(none);
  }
  list.replaceChildren(...items);
}

function renderCluster(bus) {
  const list = document.getElementById('cluster-list');
  if (!list || !bus || !bus.instances) return;
  document.getElementById('cluster-state').textContent = bus.state;
  list.replaceChildren(...bus.instances.map((inst) => {
    const li = document.createElement('li');
    li.dataset.instance = inst.id;
    const name = document.createElement('strong');
    name.textContent = inst.id;
    const ports = Object.entries(inst.services || {}).map(([n, s]) => `${n} ${s.port}`).join(', ');
    li.append(name, `${inst.id === bus.instance ? ' (this one)' : ''} on ${inst.host}, pid ${inst.pid}: ${ports}`);
    return li;
  }));
}

function render(status) {
  latest = status;
  renderCluster(status.bus);
  document.getElementById('uptime').textContent = formatDuration(status.uptime_s);
  const fresh = status.uptime_s - lastUptime >= 0.5; // one sample a second, whatever else pushes status
  if (fresh) lastUptime = status.uptime_s;
  for (const [name, svc] of Object.entries(status.services)) {
    const card = document.getElementById(`card-${name}`);
    if (!card) continue;
    const state = card.querySelector('[data-field="state"]');
    state.dataset.running = svc.running ? 'yes' : 'no';
    state.textContent = svc.running ? 'running' : (svc.disabled ? 'disabled' : 'stopped');
    setField(card, 'port', String(svc.port));
    const toggle = card.querySelector('button.service-toggle');
    if (toggle) {
      const title = card.querySelector('h3').textContent;
      toggle.textContent = svc.running ? 'Stop' : 'Start';
      toggle.setAttribute('aria-label', `${svc.running ? 'Stop' : 'Start'} ${title}`);
    }
    if (name === 'http') continue;
    setField(card, 'clients', String(svc.clients));
    setField(card, 'packets_per_s', formatCount(svc.packets_per_s));
    setField(card, 'bytes_per_s', formatRate(svc.bytes_per_s));
    setField(card, 'bytes_in', formatBytes(svc.bytes_in));
    setField(card, 'bytes_out', formatBytes(svc.bytes_out));
    setField(card, 'packets_in', String(svc.packets_in));
    setField(card, 'packets_out', String(svc.packets_out));
    if (fresh) {
      addSample(name, svc.bytes_per_s);
      drawSpark(name);
    }
  }
  renderSummary(status.services);
  const clients = ['tcp_chat', 'udp_chat'].map((n) => (status.services[n] || {}).clients).join();
  if (clients !== lastClients || Date.now() - lastWho > WHO_REFRESH) {
    // a client that just connected names itself a moment later (nc's "/nick ana"): look
    // again soon, so the list does not show its address for the next WHO_REFRESH
    if (clients !== lastClients) setTimeout(refreshWho, WHO_SETTLE);
    lastClients = clients;
    refreshWho();
  }
}

async function loadHistory() {
  const response = await fetch('/api/rates').catch(() => null);
  if (!response || !response.ok) return;
  const { samples } = await response.json();
  for (const sample of samples.slice(-SPARK_SECONDS)) {
    for (const [name, [, bytes]] of Object.entries(sample.services)) addSample(name, bytes);
  }
  for (const name of history.keys()) drawSpark(name);
}

// ---- Stop, after a confirmation; Start at once -----------------------------------------
const dialog = document.getElementById('stop-dialog');
let pending = null; // the Stop button whose confirmation is open

function dropsText(name, clients) {
  if (name === 'udp_chat') {
    return clients ? `${plural(clients, 'UDP peer')} heard from lately will get no more messages.`
      : 'No UDP peer was heard from lately.';
  }
  if (name === 'tftp') return clients ? `${plural(clients, 'running transfer')} will be cut off.` : 'No transfer is running.';
  if (name === 'file') return clients ? `${plural(clients, 'download')} will be cut off.` : 'No download is running.';
  return clients ? `${plural(clients, 'connected client')} will be disconnected.` : 'No client is connected.';
}

async function toggle(button, action) {
  button.disabled = true;
  const error = document.getElementById('home-error');
  try {
    const response = await fetch(`/api/services/${button.dataset.service}/${action}`, { method: 'POST' });
    const body = await response.json().catch(() => ({}));
    error.hidden = response.ok;
    error.textContent = response.ok ? '' : `Could not ${action} ${button.dataset.service}: ${body.error || response.status}`;
  } finally {
    button.disabled = false;
  }
}

document.addEventListener('click', (event) => {
  const button = event.target.closest('button.service-toggle');
  if (!button) return;
  if (button.textContent.trim() !== 'Stop') { toggle(button, 'start'); return; }
  const name = button.dataset.service;
  const title = document.getElementById(`title-${name}`).textContent;
  const clients = latest && latest.services[name] ? latest.services[name].clients : 0;
  document.getElementById('stop-title').textContent = `Stop ${title}?`;
  document.getElementById('stop-text').textContent = `${dropsText(name, clients)} Start brings the service back on the same port.`;
  document.getElementById('stop-confirm').textContent = `Stop ${title}`;
  pending = button;
  dialog.showModal();
  document.getElementById('stop-cancel').focus();
});
document.getElementById('stop-cancel').addEventListener('click', () => dialog.close());
document.getElementById('stop-confirm').addEventListener('click', () => {
  dialog.close();
  if (pending) toggle(pending, 'stop');
});
dialog.addEventListener('close', () => { if (pending) pending.focus(); pending = null; });

// ---- the address the snippets use --------------------------------------------------------
function showHost(host) {
  for (const group of document.querySelectorAll('.hints[data-host]')) group.hidden = group.dataset.host !== host;
  const shown = host.includes(':') ? `[${host}]` : host;
  for (const el of document.querySelectorAll('.host-text')) el.textContent = shown;
}
const hosts = hostsOf(app);
wireHostPicker(hosts, showHost);
if (hosts.length > 1) showHost(chosenHost(hosts));

wireCopyButtons();
loadHistory();
liveSocket('/ws/status', (message) => { if (message.type === 'status') render(message.status); });
const running = document.getElementById('running');
const noneRunning = document.getElementById('running-none');
liveSocket('/ws/files', (message) => {
  if (message.type !== 'transfers' && message.type !== 'transfer-updates') return;
  applyTransfers(message.transfers, message.type === 'transfers');
  noneRunning.hidden = renderRunning(running) > 0;
});
setInterval(() => { noneRunning.hidden = renderRunning(running) > 0; }, 1000);
