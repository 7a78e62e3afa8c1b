// The Syslog page: a live table of received messages over /ws/syslog, filtered on the server
// (host, severity "this or worse", text), paused in the browser, and beside it the file
// transfers of the host filtered on. Everything from the network goes in through textContent.
import { liveSocket } from './live.js';

const MAX_ROWS = 2000; // rows kept in the table; older ones are removed
const MAX_HELD = 2000; // messages held while paused; past it only counted
const TYPING_DELAY = 300; // ms after the last keystroke before the filter is sent

const rows = document.getElementById('s-rows');
const hostInput = document.getElementById('s-host');
const severityInput = document.getElementById('s-severity');
const textInput = document.getElementById('s-text');
const pauseButton = document.getElementById('s-pause');
const pausedText = document.getElementById('s-paused');
const moreText = document.getElementById('s-more');
const stateText = document.getElementById('s-state');
const transferBox = document.getElementById('s-transfers');
const transferHost = document.getElementById('s-transfers-host');
const transferList = document.getElementById('s-transfer-list');
const exportLog = document.getElementById('s-export-log');
const exportJsonl = document.getElementById('s-export-jsonl');

let paused = false;
let held = [];
let heldCount = 0;
let notShown = 0;
const transfers = new Map();

function filter() {
  return { host: hostInput.value.trim(), severity: severityInput.value, q: textInput.value };
}

function cell(tr, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  tr.appendChild(td);
  return td;
}

function row(m) {
  const tr = document.createElement('tr');
  tr.className = `sev-${m.severity_name}`;
  tr.dataset.id = m.id;
  const when = new Date(m.received * 1000);
  cell(tr, when.toLocaleTimeString([], { hour12: false }) + '.' + String(when.getMilliseconds()).padStart(3, '0'));
  const host = cell(tr, m.host);
  if (m.host !== m.sender) host.title = `from ${m.sender}`;
  // with --bus another instance's messages say who received them (this instance's carry no instance)
  if (m.instance) {
    const label = document.createElement('span');
    label.className = 'instance';
    label.textContent = ` @${m.instance}`;
    label.title = `recorded by instance ${m.instance}`;
    host.appendChild(label);
  }
  cell(tr, m.severity_name, 'sev');
  cell(tr, m.facility_name);
  cell(tr, m.app || '');
  const text = cell(tr, m.message + (m.truncated ? ` [truncated: ${m.length} bytes]` : ''), 'msg');
  text.title = m.raw;
  return tr;
}

function show(messages) {
  const wrap = rows.closest('.syslog-table-wrap');
  const atBottom = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 4;
  const fragment = document.createDocumentFragment();
  for (const m of messages) fragment.appendChild(row(m));
  rows.appendChild(fragment);
  while (rows.children.length > MAX_ROWS) rows.firstChild.remove();
  if (atBottom) wrap.scrollTop = wrap.scrollHeight;
}

function showMore() {
  moreText.textContent = notShown ? `${notShown} more not shown (too many at once; export or narrow the filter to see them)` : '';
}

function showPaused() {
  pausedText.textContent = paused ? `paused: ${heldCount} arrived` : '';
}

function onMessages(message) {
  if (message.reset) {
    rows.replaceChildren();
    held = [];
    heldCount = 0;
    notShown = 0;
    transfers.clear();
    applyTransfers(message.transfers || []);
    // what the server now filters by (tests wait on it; the rows below are its answer)
    document.getElementById('syslog-filters').dataset.applied = JSON.stringify(message.filter || {});
  }
  if (message.status) {
    stateText.textContent = `${message.status.messages} of at most ${message.status.capacity} messages kept, ` +
      `${message.status.received} received`;
  }
  const count = message.messages.length + (message.more || 0);
  if (paused && !message.reset) {
    heldCount += count;
    held.push(...message.messages);
    if (held.length > MAX_HELD) {
      notShown += held.length - MAX_HELD;
      held = held.slice(-MAX_HELD);
    }
    notShown += message.more || 0;
    showPaused();
    return;
  }
  notShown += message.more || 0;
  show(message.messages);
  showMore();
}

function applyTransfers(list) {
  for (const t of list) transfers.set(t.id, t);
  const host = filter().host;
  transferBox.hidden = !host || transfers.size === 0;
  transferHost.textContent = host;
  transferList.replaceChildren();
  const sorted = [...transfers.values()].sort((a, b) => b.started - a.started);
  for (const t of sorted.slice(0, 20)) {
    const li = document.createElement('li');
    const when = new Date(t.started * 1000).toLocaleTimeString([], { hour12: false });
    const result = t.status === 'running' ? `running, ${t.bytes} bytes so far`
      : t.status === 'ok' ? 'ok' : `${t.status}: ${t.result}`;
    li.textContent = `${when} ${t.kind.toUpperCase()} ${t.direction} ${t.file} (${t.size ?? '?'} bytes) — ${result}`;
    li.className = `transfer-${t.status}`;
    transferList.appendChild(li);
  }
}

const socket = liveSocket('/ws/syslog', (message) => {
  if (message.type === 'messages') onMessages(message);
  else if (message.type === 'transfer-updates') applyTransfers(message.transfers);
  else if (message.type === 'error') stateText.textContent = message.error;
}, { onOpen: sendFilter });

function sendFilter() {
  const wanted = filter();
  socket.send({ filter: wanted });
  const query = new URLSearchParams(Object.entries(wanted).filter(([, v]) => v)).toString();
  exportLog.href = '/api/syslog.log' + (query ? `?${query}` : '');
  exportJsonl.href = '/api/syslog.jsonl' + (query ? `?${query}` : '');
}

let typing = null;
function filterSoon() {
  clearTimeout(typing);
  typing = setTimeout(sendFilter, TYPING_DELAY);
}
hostInput.addEventListener('input', filterSoon);
textInput.addEventListener('input', filterSoon);
severityInput.addEventListener('change', sendFilter);
document.getElementById('syslog-filters').addEventListener('submit', (event) => {
  event.preventDefault();
  sendFilter();
});

pauseButton.addEventListener('click', () => {
  paused = !paused;
  pauseButton.setAttribute('aria-pressed', String(paused));
  pauseButton.textContent = paused ? 'Resume' : 'Pause';
  if (!paused) {
    show(held);
    held = [];
    heldCount = 0;
    showMore();
  }
  showPaused();
});
