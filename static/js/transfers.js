// Every HTTP, TCP-file and TFTP transfer, as Tftpd64 lists them: percent, elapsed, ETA, rate,
// options and result, refused requests included. The Files page shows them all (a table, cards
// on a phone); Home shows the running ones. Elapsed counts on from the server's own figure, so
// a browser whose clock is off still shows the right time.
import { formatBytes } from './common.js';
import { formatDuration, formatRate } from './format.js';

const transfers = new Map(); // instance:id -> transfer, with receivedAt (performance.now())
// ids are per instance: with --bus the list holds every instance's transfers
const keyOf = (t) => `${t.instance || ''}:${t.id}`;
const KEEP_FINISHED = 100; // as the server: the last 100 finished and, apart, the last 100 refused
const KEEP_REFUSED = 100;
const COLUMNS = ['Transfer', 'Peer', 'File', 'Progress', 'Elapsed', 'ETA', 'Rate', 'Options', 'Result'];

export function applyTransfers(list, replace) {
  if (replace) transfers.clear();
  const receivedAt = performance.now();
  for (const t of list) transfers.set(keyOf(t), { ...t, status: t.status || (t.result ? 'failed' : 'running'), receivedAt });
  const newest = (a, b) => b.finished - a.finished;
  const finished = [...transfers.values()].filter((t) => t.status !== 'running');
  const keep = new Set([
    ...finished.filter((t) => t.status !== 'refused').sort(newest).slice(0, KEEP_FINISHED),
    ...finished.filter((t) => t.status === 'refused').sort(newest).slice(0, KEEP_REFUSED),
  ]);
  for (const t of finished) if (!keep.has(t)) transfers.delete(keyOf(t));
}

export const hasRunning = () => [...transfers.values()].some((t) => t.status === 'running');

export function elapsed(t) {
  return t.status === 'running' ? t.elapsed + (performance.now() - t.receivedAt) / 1000 : t.elapsed;
}

function percent(t) {
  if (t.size) return Math.min(100, Math.floor((100 * t.bytes) / t.size));
  return t.status === 'ok' ? 100 : null;
}

function eta(t) {
  if (t.status !== 'running' || !t.size || !t.rate) return null;
  return Math.max(0, (t.size - t.bytes) / t.rate);
}

function ordered() {
  const all = [...transfers.values()];
  return [...all.filter((t) => t.status === 'running').sort((a, b) => b.started - a.started),
    ...all.filter((t) => t.status !== 'running').sort((a, b) => b.finished - a.finished)];
}

// "TFTP ↓" to the eye, "TFTP download" to a screen reader
function kindNodes(t) {
  const arrow = document.createElement('span');
  arrow.setAttribute('aria-hidden', 'true');
  arrow.textContent = t.direction === 'upload' ? '↑' : '↓';
  const word = document.createElement('span');
  word.className = 'sr-only';
  word.textContent = t.direction;
  return [`${t.kind.toUpperCase()} `, arrow, word];
}

export function resultText(t) {
  if (t.status === 'running') return 'running';
  if (t.status === 'ok') return 'done';
  return `${t.status}: ${t.result}`;
}

// A progress bar with its text: "42% · 1.2 MiB of 3.0 MiB"; indeterminate while the size is unknown.
export function progress(t, bar, text) {
  const p = percent(t);
  bar.max = 100;
  if (p === null && t.status === 'running') bar.removeAttribute('value');
  else bar.value = p ?? 0;
  bar.setAttribute('aria-label', `Progress of ${t.file}`);
  bar.hidden = t.status === 'refused';
  const amount = `${formatBytes(t.bytes)}${t.size ? ` of ${formatBytes(t.size)}` : ''}`;
  text.textContent = t.status === 'refused' ? 'nothing sent' : `${p === null ? '' : `${p}% · `}${amount}`;
}

function rowFor(tbody, t) {
  const instance = t.instance || '';
  let tr = tbody.querySelector(`tr[data-transfer-id="${t.id}"][data-instance="${CSS.escape(instance)}"]`);
  if (tr) return tr;
  tr = document.createElement('tr');
  tr.dataset.transferId = t.id;
  tr.dataset.instance = instance;
  for (const label of COLUMNS) {
    const td = document.createElement('td');
    td.dataset.label = label;
    tr.append(td);
  }
  const cell = tr.children[3];
  const bar = document.createElement('progress');
  const text = document.createElement('span');
  text.className = 'progress-text';
  cell.append(bar, text);
  return tr;
}

function fill(tr, t) {
  const [kind, peer, file, prog, time, left, rate, options, result] = tr.children;
  tr.dataset.status = t.status;
  tr.dataset.result = t.result || 'running'; // kept for older readers of the row
  kind.replaceChildren(...kindNodes(t));
  kind.title = `${t.kind.toUpperCase()} ${t.direction}`;
  peer.textContent = t.peer;
  file.textContent = t.asked ? `asked ${t.asked}, ${t.direction === 'upload' ? 'stored' : 'served'} ${t.file}` : t.file;
  progress(t, prog.querySelector('progress'), prog.querySelector('.progress-text'));
  time.textContent = t.status === 'refused' ? '—' : formatDuration(elapsed(t));
  const remaining = eta(t);
  left.textContent = remaining === null ? '—' : formatDuration(remaining);
  rate.textContent = t.status === 'refused' ? '—' : formatRate(t.rate);
  options.textContent = t.options || '—';
  result.textContent = resultText(t);
  for (const td of tr.children) td.toggleAttribute('data-empty', td.textContent === '—');
}

// Rows are kept and updated in place (a running transfer changes four times a second).
export function renderTransfers(tbody) {
  const list = ordered();
  tbody.replaceChildren(...list.map((t) => {
    const tr = rowFor(tbody, t);
    fill(tr, t);
    return tr;
  }));
}

// Home: the running transfers only, each a line with a bar.
export function renderRunning(list) {
  const running = ordered().filter((t) => t.status === 'running');
  list.replaceChildren(...running.map((t) => {
    const li = document.createElement('li');
    li.dataset.transferId = t.id;
    const head = document.createElement('div');
    head.className = 'running-head';
    const file = document.createElement('strong');
    file.textContent = t.file;
    const who = document.createElement('span');
    who.className = 'muted';
    who.textContent = `${t.kind.toUpperCase()} ${t.direction} · ${t.peer}`;
    head.append(file, ' ', who);
    const bar = document.createElement('progress');
    const text = document.createElement('span');
    text.className = 'progress-text';
    progress(t, bar, text);
    const remaining = eta(t);
    text.textContent += ` · ${formatRate(t.rate)}${remaining === null ? '' : ` · ${formatDuration(remaining)} left`}`;
    li.append(head, bar, text);
    return li;
  }));
  return running.length;
}
