// The packet log page, laid out as Wireshark: the packet list (virtualised: only the visible
// rows exist in the DOM, so tens of thousands of events scroll smoothly), the details and bytes
// panes under it, then traffic charts and a conversation ladder.
//
// What the list holds: the events of the current filter (service, direction, peer), fetched
// from the server whenever that filter changes (the page keeps only so many events; the server
// keeps --packet-log-size of each service), then followed live. The search box only narrows
// what is held. While the view is held — paused, or scrolled up to read — nothing in it moves:
// new events wait aside and are counted, and join the list when the view is released. After a
// reconnect the page fetches what it missed (?after=the newest id it has), or the whole log
// anew when the server has restarted meanwhile (its ids start from 1 again).
import { liveSocket } from './live.js';
import { $ } from './common.js';
import { preview } from './packets-decode.js';
import { readPrefs, savePrefs, showDetails } from './packets-detail.js';
import { TrafficCharts } from './packets-chart.js';
import { Ladder } from './packets-ladder.js';
import { PacketList } from './packets-list.js';

const KEEP = 20000; // events the page holds
const FETCH = 10000; // the most one /api/packets answer has

let store = []; // the filter's events, oldest first
const ids = new Set(); // of store
const pending = new Map(); // id -> event: arrived while the view is held (a gap fetch and the feed may both bring one)
let pendingLost = false; // more arrived while held than the page keeps: fetch anew on release
let loading = null; // live events arriving while a filter's past is being fetched
let generation = 0; // bumps with every filter change: an older fetch's answer is dropped
let paused = false;
let received = 0;
let skippedTotal = 0;
let loadedUpTo = 0; // the newest id the last load fetched: what a batch no newer than it left out was loaded
let skipsWhileLoading = []; // [newest id of the batch, events it left out], judged once the load is in
let offlineLeftOut = 0; // recorded while the feed was down, older than what one gap fetch brings
let offlineExact = true; // false when a filter made that count an upper bound (ids count every service)
let capacity = null; // --packet-log-size, from /api/status
let socket = null;

const prefs = readPrefs();
$('encoding').value = prefs.encoding;
$('chart-metric').value = prefs.metric;
const filters = { service: '', direction: '', peer: '', search: '' };
const list = new PacketList($('log'), $('log-viewport'), $('log-spacer'), $('log-rows'), {
  onSelect: (e) => choose(e),
  onBottom: (atBottom) => { if (atBottom) release(); showHeld(); }, // back at the end: the waiting ones join
});
const charts = new TrafficCharts($('charts'), $('chart-metric'));
const ladder = new Ladder($('conn'), $('ladder'), (e) => choose(e, true));

function choose(e, reveal = false) {
  list.select(e);
  showDetails(e);
  if (reveal) list.reveal(e);
}

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
  const bottom = list.atBottom();
  list.view = store.filter(matchesSearch);
  list.render(bottom);
  list.reveal(list.selected);
});
// Enter in a field must not submit (and reload) the page
$('filters').addEventListener('submit', (event) => event.preventDefault());

function noteServices(events) {
  const select = $('f-service');
  for (const e of events) {
    if (![...select.options].some((o) => o.value === e.service)) select.append(new Option(e.service, e.service));
  }
}

// ---- what the page holds -----------------------------------------------------------------------
// Events join in id order, each once (a gap fetch and the live feed may bring the same one).
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
    while (drop < list.view.length && list.view[drop].id < oldest) drop += 1;
    if (drop) list.view = list.view.slice(drop);
    for (const e of fresh) if (e.id >= oldest && matchesSearch(e)) list.view.push(e);
  } else {
    list.view = store.filter(matchesSearch);
  }
  ladder.offer(fresh);
  noteServices(fresh);
}

const held = () => paused || !list.atBottom();

function receive(events) {
  const wanted = events.filter(inFilter);
  if (!wanted.length) return;
  if (loading) { loading.push(...wanted); return; }
  if (held()) {
    for (const e of wanted) if (!ids.has(e.id)) pending.set(e.id, e);
    for (const id of pending.keys()) {
      if (pending.size <= KEEP) break;
      pending.delete(id); // the oldest arrivals
      pendingLost = true;
    }
    showHeld();
    return;
  }
  merge(wanted);
  list.render(true);
}

function release() {
  if (held() || loading) return;
  const events = [...pending.values()];
  pending.clear();
  if (pendingLost) { pendingLost = false; reload(); return; }
  merge(events);
  list.render(true);
  showHeld();
}

function showHeld() {
  const button = $('thaw');
  const count = pending.size.toLocaleString() + (pendingLost ? '+' : '');
  button.hidden = !held() || !pending.size;
  button.textContent = paused ? `${count} new since the pause: resume` : `${count} new: jump to the newest`;
}

$('thaw').addEventListener('click', () => {
  if (paused) setPaused(false);
  list.scrollToBottom();
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
  if (!paused) { list.scrollToBottom(); release(); }
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

async function fetchEvents(after, limit = FETCH) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (after) params.set('after', String(after));
  if (filters.service) params.set('service', filters.service);
  if (filters.peer) params.set('peer', filters.peer);
  const response = await fetch(`/api/packets?${params}`);
  if (!response.ok) throw new Error(`${response.status} ${(await response.text()).slice(0, 200)}`);
  return (await response.json()).events;
}

// The current filter's past, from the server: what this page held is of another filter (or
// of a server process that has since restarted). ``done`` is said once it is loaded.
async function reload(done = '') {
  const mine = ++generation;
  loading = [];
  pending.clear();
  pendingLost = false;
  skippedTotal = 0; // what the live view left out is fetched now, as far as the server keeps it
  offlineLeftOut = 0;
  offlineExact = true;
  skipsWhileLoading = [];
  $('skipped-text').textContent = '';
  $('reload').hidden = true;
  setLoadState('Loading the log…');
  let events = [];
  let failure = null;
  try { events = await fetchEvents(0); } catch (error) { failure = error; }
  if (mine !== generation) return;
  const live = loading;
  loading = null;
  loadedUpTo = events.length ? events[events.length - 1].id : 0;
  for (const [newest, count] of skipsWhileLoading) noteSkipped(newest, count);
  skipsWhileLoading = [];
  store = [];
  ids.clear();
  list.view = [];
  merge(events);
  merge(live);
  list.render(true);
  showHeld();
  if (failure) setLoadState(`Could not load the log (${failure.message}); new events still show.`, true);
  else setLoadState(done || (events.length >= FETCH ? `The newest ${FETCH.toLocaleString()} events of this filter are loaded (the exports have all the server keeps).` : ''));
  fillGap(newestHeld()); // what was recorded between that answer and the live feed's start
}

// The newest id in the list or waiting to join it.
function newestHeld() {
  let newest = store.length ? store[store.length - 1].id : 0;
  for (const id of pending.keys()) newest = Math.max(newest, id);
  return newest;
}

// On every (re)connect of the live feed: what happened while it was down, i.e. after ``since``
// (taken when the feed opened: its first batch, the newest few, may be in before this answer).
// One answer brings the newest FETCH; what is older than those is counted, not silently lost.
async function fillGap(since) {
  if (loading) return; // a reload in flight covers it
  const mine = generation;
  let events;
  try { events = await fetchEvents(since); } catch (error) {
    setLoadState(`Could not fetch the events missed while offline (${error.message}).`, true);
    return;
  }
  if (mine !== generation) return;
  if (events.length >= FETCH && since) {
    const leftOut = events[0].id - since - 1; // ids number every event of every service
    if (leftOut > 0) {
      offlineLeftOut += leftOut;
      offlineExact = offlineExact && !filters.service && !filters.peer && !filters.direction;
      showSkipped();
    }
  }
  receive(events);
}

// A batch says how many events it left out, all older than its own newest: those are loaded
// already when that is no newer than what the last load fetched (a flood's last batches).
function noteSkipped(newest, count) {
  if (loading) { skipsWhileLoading.push([newest, count]); return; }
  if (newest <= loadedUpTo) return;
  skippedTotal += count;
  showSkipped();
}

function showSkipped() {
  const kept = capacity ? `the newest ${capacity.toLocaleString()} events of each service` : 'the newest events of each service (--packet-log-size)';
  const said = [];
  if (skippedTotal) said.push(`${skippedTotal.toLocaleString()} events were left out of this live view (more than it can show at once).`);
  if (offlineLeftOut) {
    said.push(`${offlineExact ? '' : 'Up to '}${offlineLeftOut.toLocaleString()} earlier events recorded while this page was offline are not shown `
      + `(it fetched the newest ${FETCH.toLocaleString()}).`);
  }
  if (!said.length) return;
  $('skipped-text').textContent = `${said.join(' ')} The server keeps ${kept}: load them, or export them, before newer ones take their place.`;
  $('reload').hidden = false;
}
$('reload').addEventListener('click', () => reload());

// A restarted server numbers its events from 1 again: what the page holds is of the old process
// and would hide the new events with the same ids. It is told by when the server started, or by
// its newest event being older than the page's. Taking a slow answer for a restart costs a reload.
const RESTART_SLACK = 1; // s: more than the rounding of uptime_s (0.1 s) and an answer's delay
let serverStart = null; // by this browser's clock

async function restarted() {
  const newest = store.length ? store[store.length - 1].id : 0;
  const [status, latest] = await Promise.all([fetch('/api/status').then((r) => r.json()), fetchEvents(0, 1)]);
  capacity = status.packet_log.capacity;
  if (skippedTotal || offlineLeftOut) showSkipped();
  const start = Date.now() / 1000 - status.uptime_s;
  const moved = serverStart !== null && Math.abs(start - serverStart) > RESTART_SLACK;
  serverStart = start;
  return moved || (latest.length > 0 && latest[0].id < newest);
}

async function feedOpened() {
  const since = newestHeld(); // before the feed's first batch joins
  socket.send({ filter: serverFilter() });
  let anew = false;
  try { anew = await restarted(); } catch { /* fillGap says what fails */ }
  if (anew) reload('sockdash restarted: the log starts anew.');
  else fillGap(since);
}

$('encoding').addEventListener('change', () => {
  savePrefs({ encoding: $('encoding').value });
  if (list.selected) showDetails(list.selected);
});
$('chart-metric').addEventListener('change', () => savePrefs({ metric: $('chart-metric').value }));

// ---- start -------------------------------------------------------------------------------------
fetch('/api/rates').then((r) => r.json()).then((body) => charts.add(...body.samples)).catch(() => {});
reload();
socket = liveSocket('/ws/packets', (message) => {
  if (message.type === 'packets') {
    received += message.events.length + message.skipped;
    if (message.skipped) noteSkipped(message.events.reduce((max, e) => Math.max(max, e.id), 0) || Infinity, message.skipped);
    receive(message.events);
  } else if (message.type === 'rates') {
    charts.add(message.sample);
  }
}, { onOpen: feedOpened });
