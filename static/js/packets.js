// The packet log page, laid out as Wireshark: the packet list (virtualised: only the visible
// rows exist in the DOM, so tens of thousands of events scroll smoothly), the details and bytes
// panes under it, then traffic charts and a conversation ladder.
//
// What the list holds: the events of the current filter (service, direction, peer), fetched
// from the server whenever that filter changes (the page keeps only so many events; the server
// keeps --packet-log-size of each service), then followed live. The search box only narrows
// what is held. While the view is held — paused, or scrolled up to read — nothing in it moves:
// new events wait aside and are counted, and join the list when the view is released. After a
// reconnect the page fetches what it missed (?after=the newest id it has).
import { liveSocket } from './live.js';
import { arrow, preview, stamp } from './packets-decode.js';
import { readPrefs, savePrefs, showDetails } from './packets-detail.js';
import { TrafficCharts } from './packets-chart.js';
import { Ladder } from './packets-ladder.js';

const $ = (id) => document.getElementById(id);
const ROW = 24; // px, as in the CSS
const KEEP = 20000; // events the page holds
const FETCH = 10000; // the most one /api/packets answer has

let store = []; // the filter's events, oldest first
const ids = new Set(); // of store
let view = []; // the store's events that match the search
let pending = []; // arrived while the view is held
let pendingLost = false; // more arrived while held than the page keeps: fetch anew on release
let loading = null; // live events arriving while a filter's past is being fetched
let generation = 0; // bumps with every filter change: an older fetch's answer is dropped
let paused = false;
let following = true; // the list was at its bottom when last scrolled (new rows show and it follows them)
let selected = null;
let received = 0;
let skippedTotal = 0;
let capacity = null; // --packet-log-size, from /api/status
let socket = null;

const prefs = readPrefs();
$('encoding').value = prefs.encoding;
$('chart-metric').value = prefs.metric;
const filters = { service: '', direction: '', peer: '', search: '' };
const viewport = $('log-viewport');
const spacer = $('log-spacer');
const rowsEl = $('log-rows');
const charts = new TrafficCharts($('charts'), $('chart-metric'));
const ladder = new Ladder($('conn'), $('ladder'), (e) => select(e, true));

// ---- filters ---------------------------------------------------------------------------------
function inFilter(e) {
  if (filters.service && e.service !== filters.service) return false;
  if (filters.direction && e.direction !== filters.direction) return false;
  return !filters.peer || e.peer.includes(filters.peer);
}

function matchesSearch(e) {
  if (!filters.search) return true;
  const needle = filters.search.toLowerCase();
  return preview(e).toLowerCase().includes(needle) || e.summary.toLowerCase().includes(needle);
}

function serverFilter() {
  return { service: filters.service, direction: filters.direction, peer: filters.peer };
}

function filterChanged() {
  const params = new URLSearchParams();
  if (filters.service) params.set('service', filters.service);
  if (filters.peer) params.set('peer', filters.peer);
  const query = params.toString() ? `?${params}` : '';
  $('export-pcap').href = `/api/packets.pcap${query}`;
  $('export-jsonl').href = `/api/packets.jsonl${query}`;
  if (socket) socket.send({ filter: serverFilter() });
  reload();
}

let typing = null;
for (const [id, key] of [['f-service', 'service'], ['f-direction', 'direction'], ['f-peer', 'peer']]) {
  $(id).addEventListener('input', () => {
    if (filters[key] === $(id).value.trim()) return;
    filters[key] = $(id).value.trim();
    clearTimeout(typing);
    typing = setTimeout(filterChanged, id === 'f-peer' ? 300 : 0); // one fetch per pause in typing
  });
}
$('f-search').addEventListener('input', () => {
  filters.search = $('f-search').value.trim();
  view = store.filter(matchesSearch);
  const at = selected ? view.findIndex((x) => x.id === selected.id) : -1;
  render(atBottom() && at < 0);
  if (at >= 0) scrollToRow(at); // as Wireshark keeps the chosen packet in view when the filter changes
});
// Enter in a field must not submit (and reload) the page
$('filters').addEventListener('submit', (event) => event.preventDefault());

function noteServices(events) {
  const select = $('f-service');
  for (const e of events) {
    if (![...select.options].some((o) => o.value === e.service)) select.append(new Option(e.service, e.service));
  }
}

// ---- the held events ---------------------------------------------------------------------------
function merge(events) {
  const fresh = events.filter((e) => !ids.has(e.id) && inFilter(e)).sort((a, b) => a.id - b.id);
  if (!fresh.length) return;
  for (const e of fresh) ids.add(e.id);
  const inOrder = !store.length || fresh[0].id > store[store.length - 1].id;
  if (inOrder) for (const e of fresh) store.push(e);
  else store = store.concat(fresh).sort((a, b) => a.id - b.id); // a gap filled after a reconnect
  if (store.length > KEEP) {
    const cut = store.length - KEEP;
    for (let i = 0; i < cut; i += 1) ids.delete(store[i].id);
    store = store.slice(cut);
  }
  if (inOrder) {
    const oldest = store[0].id;
    let drop = 0;
    while (drop < view.length && view[drop].id < oldest) drop += 1;
    if (drop) view = view.slice(drop);
    for (const e of fresh) if (e.id >= oldest && matchesSearch(e)) view.push(e);
  } else {
    view = store.filter(matchesSearch);
  }
  ladder.offer(fresh);
  noteServices(fresh);
}

// Measured, not remembered: a batch that comes before the scroll event of a scroll up must wait too.
const atBottom = () => viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - ROW * 2;
const held = () => paused || !atBottom();

function receive(events) {
  const wanted = events.filter(inFilter);
  if (!wanted.length) return;
  if (loading) { loading.push(...wanted); return; }
  if (held()) {
    for (const e of wanted) if (!ids.has(e.id)) pending.push(e);
    if (pending.length > KEEP) { pendingLost = true; pending = pending.slice(-KEEP); }
    showHeld();
    return;
  }
  merge(wanted);
  render(true);
}

function release() {
  if (held() || loading) return;
  const events = pending;
  pending = [];
  if (pendingLost) { pendingLost = false; reload(); return; }
  merge(events);
  render(true);
  showHeld();
}

function showHeld() {
  const button = $('thaw');
  const count = pending.length + (pendingLost ? '+' : '');
  button.hidden = !held() || !pending.length;
  button.textContent = paused ? `${count} new since the pause: resume` : `${count} new: jump to the newest`;
}

$('thaw').addEventListener('click', () => {
  if (paused) setPaused(false);
  viewport.scrollTop = viewport.scrollHeight;
  release();
});

function setPaused(value) {
  paused = value;
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  $('pause').setAttribute('aria-pressed', String(paused));
  showHeld();
}

$('pause').addEventListener('click', () => {
  setPaused(!paused);
  if (!paused) { viewport.scrollTop = viewport.scrollHeight; release(); }
});

setInterval(() => {
  $('rate').textContent = `${received} events/s${paused ? ' — paused' : ''}`;
  received = 0;
}, 1000);

// ---- the server --------------------------------------------------------------------------------
function setLoadState(text, isError = false) {
  $('load-state').textContent = text;
  $('load-state').classList.toggle('error', isError);
}

async function fetchEvents(after) {
  const params = new URLSearchParams({ limit: String(FETCH) });
  if (after) params.set('after', String(after));
  if (filters.service) params.set('service', filters.service);
  if (filters.peer) params.set('peer', filters.peer);
  const response = await fetch(`/api/packets?${params}`);
  if (!response.ok) throw new Error(`${response.status} ${(await response.text()).slice(0, 200)}`);
  return (await response.json()).events;
}

// The current filter's past, from the server: what this page held is of another filter.
async function reload() {
  const mine = ++generation;
  loading = [];
  pending = [];
  pendingLost = false;
  setLoadState('Loading the log…');
  let events = [];
  let failure = null;
  try { events = await fetchEvents(0); } catch (error) { failure = error; }
  if (mine !== generation) return;
  const live = loading;
  loading = null;
  store = [];
  ids.clear();
  view = [];
  merge(events);
  merge(live);
  render(true);
  showHeld();
  if (failure) setLoadState(`Could not load the log (${failure.message}); new events still show.`, true);
  else setLoadState(events.length >= FETCH ? `The newest ${FETCH.toLocaleString()} events of this filter are loaded; the exports have all the server keeps.` : '');
  fillGap(); // what was recorded between that answer and the live feed's start
}

// On every (re)connect of the live feed: what happened while it was down.
async function fillGap() {
  if (loading) return; // a reload in flight covers it
  const mine = generation;
  const newest = Math.max(store.length ? store[store.length - 1].id : 0, pending.length ? pending[pending.length - 1].id : 0);
  let events;
  try { events = await fetchEvents(newest); } catch (error) {
    setLoadState(`Could not fetch the events missed while offline (${error.message}).`, true);
    return;
  }
  if (mine === generation) receive(events);
}

function showSkipped() {
  const kept = capacity ? `the newest ${capacity.toLocaleString()} events of each service` : 'the newest events of each service (--packet-log-size)';
  $('skipped-text').textContent = `${skippedTotal.toLocaleString()} events were left out of this live view (more than it can show at once). `
    + `The server keeps ${kept}: load them, or export them, before newer ones take their place.`;
  $('reload').hidden = false;
}
$('reload').addEventListener('click', reload);

// ---- the virtualised list ----------------------------------------------------------------------
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
  Object.assign(div.dataset, { id: e.id, dir: e.direction, kind: e.kind, service: e.service });
  if (selected && e.id === selected.id) div.setAttribute('aria-selected', 'true');
  const time = cell(stamp(e.time_us, false), 'time');
  time.append(Object.assign(document.createElement('span'), { className: 'us', textContent: String(e.time_us % 1000).padStart(3, '0') }));
  div.append(cell(String(e.id), 'num'), time, cell(e.service), cell(arrow(e), 'dir'), cell(e.peer),
    cell(String(e.length), 'num'), cell(preview(e), 'summary'));
  return div;
}

function renderRows() {
  const first = Math.max(0, Math.floor(viewport.scrollTop / ROW) - 5);
  const count = Math.ceil(viewport.clientHeight / ROW) + 10;
  rowsEl.style.transform = `translateY(${first * ROW}px)`;
  rowsEl.replaceChildren(...view.slice(first, first + count).map((e, i) => rowFor(e, first + i)));
}

function render(keepBottom) {
  spacer.style.height = `${view.length * ROW}px`;
  $('log').setAttribute('aria-rowcount', String(view.length + 1));
  if (keepBottom) viewport.scrollTop = viewport.scrollHeight;
  renderRows();
}

viewport.addEventListener('scroll', () => {
  if (atBottom() !== following) {
    following = atBottom();
    if (following) release();
    showHeld();
  }
  renderRows();
});

function scrollToRow(index) {
  viewport.scrollTop = Math.max(0, index * ROW - viewport.clientHeight / 2);
  renderRows();
}

function select(e, fromLadder = false) {
  selected = e;
  showDetails(e);
  const index = view.findIndex((x) => x.id === e.id);
  if (index >= 0 && fromLadder) scrollToRow(index);
  else renderRows();
}

rowsEl.addEventListener('click', (event) => {
  const row = event.target.closest('.log-row');
  const e = row && view.find((x) => x.id === Number(row.dataset.id));
  if (e) select(e);
});

// Wireshark's keys: up and down move through the packets, Home and End to the ends
viewport.addEventListener('keydown', (event) => {
  const moves = { ArrowDown: 1, ArrowUp: -1, Home: -Infinity, End: Infinity };
  if (!(event.key in moves) || !view.length) return;
  event.preventDefault();
  const at = selected ? view.findIndex((x) => x.id === selected.id) : -1;
  const index = Math.min(view.length - 1, Math.max(0, at < 0 ? view.length - 1 : at + moves[event.key]));
  if (index * ROW < viewport.scrollTop) viewport.scrollTop = index * ROW;
  else if ((index + 1) * ROW > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = (index + 1) * ROW - viewport.clientHeight;
  select(view[index]);
});

$('encoding').addEventListener('change', () => {
  savePrefs({ encoding: $('encoding').value });
  if (selected) showDetails(selected);
});
$('chart-metric').addEventListener('change', () => savePrefs({ metric: $('chart-metric').value }));

// ---- start -------------------------------------------------------------------------------------
fetch('/api/status').then((r) => r.json()).then((status) => {
  capacity = status.packet_log.capacity;
  if (skippedTotal) showSkipped();
}).catch(() => {});
fetch('/api/rates').then((r) => r.json()).then((body) => charts.add(...body.samples)).catch(() => {});
reload();
socket = liveSocket('/ws/packets', (message) => {
  if (message.type === 'packets') {
    received += message.events.length + message.skipped;
    if (message.skipped) { skippedTotal += message.skipped; showSkipped(); }
    receive(message.events);
  } else if (message.type === 'rates') {
    charts.add(message.sample);
  }
}, { onOpen: () => { socket.send({ filter: serverFilter() }); fillGap(); } });
