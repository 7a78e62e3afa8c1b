import { liveSocket } from './live.js';

const rows = document.getElementById('packet-rows');
const wrap = document.getElementById('packet-wrap');
const skippedEl = document.getElementById('skipped');
const MAX_ROWS = 2000;
let skipped = 0;
let lastId = 0;

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function arrow(e) {
  if (e.kind === 'open') return '→ open';
  if (e.kind === 'close') return e.direction === 'in' ? '← close' : '→ close';
  return e.direction === 'in' ? '→ in' : '← out';
}

const decoder = new TextDecoder('utf-8');

function preview(e) {
  if (e.summary) return e.summary;
  if (!e.payload_hex) return '';
  const bytes = new Uint8Array(e.payload_hex.match(/../g).map((h) => parseInt(h, 16)));
  const text = decoder.decode(bytes).replace(/[\x00-\x1f\x7f]/g, '·');
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function add(events) {
  const follow = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 30;
  for (const e of events) {
    if (e.id <= lastId) continue;
    lastId = e.id;
    const tr = document.createElement('tr');
    const t = new Date(e.time_us / 1000);
    const stamp = `${t.toLocaleTimeString()}.${String(e.time_us % 1000000).padStart(6, '0')}`;
    tr.append(cell(stamp), cell(e.service), cell(arrow(e)), cell(e.peer), cell(String(e.length)), cell(preview(e)));
    rows.append(tr);
  }
  while (rows.children.length > MAX_ROWS) rows.firstElementChild.remove();
  if (follow) wrap.scrollTop = wrap.scrollHeight;
}

liveSocket('/ws/packets', (message) => {
  if (message.type !== 'packets') return;
  skipped += message.skipped;
  skippedEl.textContent = skipped ? `${skipped} events not shown (too many to display).` : '';
  add(message.events);
});
