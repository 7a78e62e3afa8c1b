// The packet log page: a virtualised table (only the visible rows exist in the DOM, so
// tens of thousands of events scroll smoothly), filters, pause, payload dump, a rate
// chart and per-connection timelines. Network text only reaches the page as textContent.
import { liveSocket, formatBytes } from './live.js';

const $ = (id) => document.getElementById(id);
const ROW = 24; // px, as in the CSS
const KEEP = 20000; // events kept in the browser
const COLORS = { tcp_chat: '#1f6feb', udp_chat: '#1a7f37', file: '#9a6700', tftp: '#cf222e', web_chat: '#8250df', http: '#57606a' };

let socket = null; // the live feed, opened once the recent past is loaded
const all = []; // every event kept, oldest first
let view = []; // the events that pass the filters
let paused = false;
let selectedId = null;
let received = 0;
let skippedTotal = 0;

// ---- filters ---------------------------------------------------------------------------------
const filters = { service: '', direction: '', peer: '', search: '' };
// filters apply as you type; Enter must not submit (and reload) the form
$('filters').addEventListener('submit', (event) => event.preventDefault());
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const gbk = new TextDecoder('gbk');

function guessText(bytes) {
  // as the servers do: UTF-8 if it is valid, else GBK (the course's Windows scripts)
  try { return strictUtf8.decode(bytes); } catch { return gbk.decode(bytes); }
}

function bytesOf(e) {
  const hex = e.payload_hex || '';
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function preview(e) {
  // a direct message: its payload comes to the admin only (the others get "direct message")
  const mark = e.private && e.payload_hex ? '🔒 ' : '';
  if (e.summary && e.summary !== 'WS text') return mark + e.summary;
  const text = guessText(bytesOf(e)).replace(/[\x00-\x1f\x7f]/g, '·');
  return mark + (text.length > 120 ? `${text.slice(0, 120)}…` : text);
}

function passes(e) {
  if (filters.service && e.service !== filters.service) return false;
  if (filters.direction && e.direction !== filters.direction) return false;
  if (filters.peer && !e.peer.includes(filters.peer)) return false;
  if (filters.search) {
    const needle = filters.search.toLowerCase();
    if (!preview(e).toLowerCase().includes(needle) && !e.summary.toLowerCase().includes(needle)) return false;
  }
  return true;
}

function refilter() {
  view = all.filter(passes);
  render(true);
  const params = new URLSearchParams();
  if (filters.service) params.set('service', filters.service);
  if (filters.peer) params.set('peer', filters.peer);
  const query = params.toString() ? `?${params}` : '';
  $('export-pcap').href = `/api/packets.pcap${query}`;
  $('export-jsonl').href = `/api/packets.jsonl${query}`;
  if (socket) socket.send({ filter: { service: filters.service, direction: filters.direction, peer: filters.peer } });
}

for (const [id, key] of [['f-service', 'service'], ['f-direction', 'direction'], ['f-peer', 'peer'], ['f-search', 'search']]) {
  $(id).addEventListener('input', () => { filters[key] = $(id).value.trim(); refilter(); });
}

// ---- the virtualised table ------------------------------------------------------------------
const viewport = $('log-viewport');
const spacer = $('log-spacer');
const rowsEl = $('log-rows');
let following = true;

function stamp(us) {
  const d = new Date(us / 1000);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(us % 1000000).padStart(6, '0')}`;
}

function arrow(e) {
  if (e.kind === 'open') return '⇢ open';
  if (e.kind === 'close') return e.direction === 'in' ? '⇠ close' : '⇢ close';
  return e.direction === 'in' ? '→ in' : '← out';
}

function cell(text, className) {
  const span = document.createElement('span');
  span.setAttribute('role', 'cell');
  if (className) span.className = className;
  span.textContent = text;
  return span;
}

function rowFor(e, index) {
  const div = document.createElement('div');
  div.className = 'log-row';
  div.setAttribute('role', 'row');
  div.setAttribute('aria-rowindex', String(index + 2));
  div.dataset.id = e.id;
  div.dataset.dir = e.direction;
  if (e.id === selectedId) div.setAttribute('aria-selected', 'true');
  div.append(cell(stamp(e.time_us)), cell(e.service), cell(arrow(e), 'dir'), cell(e.peer), cell(String(e.length)),
    cell(preview(e), 'summary'));
  return div;
}

function render(keepBottom) {
  spacer.style.height = `${view.length * ROW}px`;
  $('log').setAttribute('aria-rowcount', String(view.length + 1));
  if (keepBottom) viewport.scrollTop = viewport.scrollHeight;
  const first = Math.max(0, Math.floor(viewport.scrollTop / ROW) - 5);
  const count = Math.ceil(viewport.clientHeight / ROW) + 10;
  rowsEl.style.transform = `translateY(${first * ROW}px)`;
  rowsEl.replaceChildren(...view.slice(first, first + count).map((e, i) => rowFor(e, first + i)));
}

viewport.addEventListener('scroll', () => {
  following = viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - ROW * 2;
  render(false);
});

rowsEl.addEventListener('click', (event) => {
  const row = event.target.closest('.log-row');
  if (!row) return;
  selectedId = Number(row.dataset.id);
  const e = all.find((x) => x.id === selectedId);
  if (e) showDetails(e);
  render(false);
});

function add(events) {
  for (const e of events) {
    all.push(e);
    if (passes(e)) view.push(e);
  }
  if (all.length > KEEP) {
    const cut = all.length - KEEP;
    const oldest = all[cut].id;
    all.splice(0, cut);
    while (view.length && view[0].id < oldest) view.shift();
  }
  if (!paused) render(following);
}

$('pause').addEventListener('click', () => {
  paused = !paused;
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  $('pause').setAttribute('aria-pressed', String(paused));
  if (!paused) render(following);
});

setInterval(() => {
  $('rate').textContent = `${received} events/s${paused ? ' — paused' : ''}`;
  received = 0;
}, 1000);

// ---- payload dump ----------------------------------------------------------------------------
function showDetails(e) {
  $('details').hidden = false;
  const hidden = e.private && !e.payload_hex;
  $('details-title').textContent = `#${e.id} ${e.service} ${arrow(e)} ${e.peer}, ${e.length} bytes`
    + (hidden ? ' (a direct message: only the admin sees its bytes)'
      : (e.payload_hex.length / 2 < e.length ? ` (first ${e.payload_hex.length / 2} kept)` : ''));
  const bytes = bytesOf(e);
  const lines = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const chunk = [...bytes.slice(i, i + 16)].map((b) => b.toString(16).padStart(2, '0'));
    lines.push(`${i.toString(16).padStart(4, '0')}  ${chunk.slice(0, 8).join(' ')}  ${chunk.slice(8).join(' ')}`);
  }
  $('hex').textContent = lines.join('\n');
  const encoding = $('encoding').value;
  $('text').textContent = new TextDecoder(encoding).decode(bytes).replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '·');
  $('details').dataset.id = e.id;
}
$('encoding').addEventListener('change', () => {
  const e = all.find((x) => x.id === Number($('details').dataset.id));
  if (e) showDetails(e);
});

// ---- connection timelines ---------------------------------------------------------------------
const connections = new Map(); // key -> label

function connectionKey(e) {
  return `${e.service} ${e.peer} ${e.local}`;
}

function trackConnections(events) {
  let changed = false;
  for (const e of events) {
    if (e.transport !== 'tcp' || connections.has(connectionKey(e))) continue;
    connections.set(connectionKey(e), `${e.service}: ${e.peer} ⇄ ${e.local}`);
    changed = true;
  }
  if (!changed) return;
  const select = $('conn');
  const current = select.value;
  select.replaceChildren(new Option('choose…', ''), ...[...connections].map(([k, label]) => new Option(label, k)));
  select.value = current;
}

function renderSequence() {
  const key = $('conn').value;
  const box = $('sequence');
  if (!key) { box.replaceChildren(); return; }
  const events = all.filter((e) => e.transport === 'tcp' && connectionKey(e) === key);
  const [service, peer, local] = key.split(' ');
  const head = (text) => Object.assign(document.createElement('div'), { className: 'end', textContent: text });
  const items = [head(`peer ${peer}`), head(service), head(`sockdash ${local}`)];
  for (const e of events) {
    const left = Object.assign(document.createElement('div'), { className: 'side', textContent: stamp(e.time_us) });
    const mid = document.createElement('div');
    mid.className = `arrow ${e.kind}`;
    let label;
    if (e.kind === 'open') label = 'connect ⟶';
    else if (e.kind === 'close') {
      if (e.direction === 'out') label = '⟵ close by sockdash (FIN)';
      else label = e.summary.includes('reset') ? 'reset by peer (RST) ⟶' : 'close by peer (FIN) ⟶';
    }
    else label = e.direction === 'in' ? `${e.length} B: ${preview(e)} ⟶` : `⟵ ${e.length} B: ${preview(e)}`;
    mid.textContent = label;
    mid.title = label;
    const right = Object.assign(document.createElement('div'), { className: 'side', textContent: `#${e.id}` });
    items.push(left, mid, right);
  }
  box.replaceChildren(...items);
}
$('conn').addEventListener('change', renderSequence);

// ---- rate chart ------------------------------------------------------------------------------
const samples = [];
const canvas = $('chart');

function drawChart() {
  const ctx = canvas.getContext('2d');
  const width = canvas.width;
  const height = canvas.height;
  ctx.clearRect(0, 0, width, height);
  const half = height / 2;
  const now = Date.now() / 1000;
  const services = new Set(samples.flatMap((s) => Object.keys(s.services)));
  const legend = [];
  [[0, 'packets/s'], [1, 'bytes/s']].forEach(([index, label], panel) => {
    const top = panel * half;
    let max = 1;
    for (const s of samples) for (const v of Object.values(s.services)) max = Math.max(max, v[index]);
    ctx.fillStyle = '#57606a';
    ctx.font = '11px system-ui';
    ctx.fillText(`${label} (max ${index ? formatBytes(max) : Math.round(max)})`, 4, top + 12);
    ctx.strokeStyle = '#d9dee5';
    ctx.beginPath(); ctx.moveTo(0, top + half - 1); ctx.lineTo(width, top + half - 1); ctx.stroke();
    for (const service of services) {
      ctx.strokeStyle = COLORS[service] || '#000';
      ctx.beginPath();
      let started = false;
      for (const s of samples) {
        const value = s.services[service] ? s.services[service][index] : 0;
        const x = width - ((now - s.t) / 300) * width;
        const y = top + half - 2 - (value / max) * (half - 18);
        if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
      }
      ctx.stroke();
    }
  });
  for (const service of services) {
    const span = document.createElement('span');
    span.style.color = COLORS[service] || '#000';
    span.textContent = `■ ${service}`;
    legend.push(span);
  }
  $('chart-legend').replaceChildren(...legend);
}

function addSample(sample) {
  samples.push(sample);
  const cutoff = Date.now() / 1000 - 300;
  while (samples.length && samples[0].t < cutoff) samples.shift();
  drawChart();
}

fetch('/api/rates').then((r) => r.json()).then((body) => { body.samples.forEach((s) => samples.push(s)); drawChart(); });

// ---- the feed ------------------------------------------------------------------------------
// the recent past first (the rings keep up to 10,000 events a service), then live
const history = await fetch('/api/packets?limit=10000').then((r) => r.json()).catch(() => ({ events: [] }));
add(history.events);
trackConnections(history.events);

socket = liveSocket('/ws/packets', (message) => {
  if (message.type === 'packets') {
    received += message.events.length + message.skipped;
    skippedTotal += message.skipped;
    $('skipped').textContent = skippedTotal
      ? `${skippedTotal} events were not sent to this page (more than it can show); the exports have them all.` : '';
    const fresh = message.events.filter((e) => !all.length || e.id > all[all.length - 1].id);
    add(fresh);
    trackConnections(fresh);
    if ($('conn').value) renderSequence();
  } else if (message.type === 'rates') {
    addSample(message.sample);
  }
}, { onOpen: () => socket.send({ filter: { service: filters.service, direction: filters.direction, peer: filters.peer } }) });
