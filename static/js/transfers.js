// The live transfer list: every HTTP, TCP-file and TFTP transfer, running ones first.
import { formatBytes } from './live.js';

const rows = new Map(); // id -> transfer
const MAX_FINISHED = 100;

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function progressCell(t) {
  const td = document.createElement('td');
  const bar = document.createElement('progress');
  bar.max = t.size || 1;
  bar.value = t.size ? Math.min(t.bytes, t.size) : (t.result ? 1 : 0);
  if (!t.size && !t.result) bar.removeAttribute('value'); // unknown size: indeterminate
  bar.setAttribute('aria-label', `Progress of ${t.file}`);
  const text = document.createElement('span');
  text.textContent = ` ${formatBytes(t.bytes)}${t.size ? ` of ${formatBytes(t.size)}` : ''}`;
  td.append(bar, text);
  return td;
}

export function renderTransfers(tbody) {
  const all = [...rows.values()];
  const running = all.filter((t) => !t.result).sort((a, b) => b.started - a.started);
  const finished = all.filter((t) => t.result).sort((a, b) => b.finished - a.finished).slice(0, MAX_FINISHED);
  for (const t of all) if (t.result && !finished.includes(t)) rows.delete(t.id);
  tbody.replaceChildren(...[...running, ...finished].map((t) => {
    const tr = document.createElement('tr');
    tr.dataset.transferId = t.id;
    tr.dataset.result = t.result || 'running';
    const kind = `${t.kind} ${t.direction === 'upload' ? '↑' : '↓'}${t.options ? ` (${t.options})` : ''}`;
    tr.append(cell(kind), cell(t.peer), cell(t.file), progressCell(t),
      cell(`${formatBytes(t.rate)}/s`), cell(t.result || 'running'));
    return tr;
  }));
}

export function applyTransfers(list, replace) {
  if (replace) rows.clear();
  for (const t of list) rows.set(t.id, t);
}
