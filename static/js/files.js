// The Files page: browse, sort, filter, fetch natively, hash; as admin rename (in place) and
// delete; uploads and new folders are in files-admin.js, names and commands in names.js.
import { liveSocket } from './live.js';
import { button, formatBytes } from './common.js';
import { wireCopyButtons } from './copy.js';
import { applyTransfers, hasRunning, renderTransfers } from './transfers.js';
import { chosenHost, hostsOf, wireHostPicker } from './hosts.js';
import {
  ENCODING_NOTES, nameBytes, nativeCommands, percentBytes, renameSuggestion, shown, urlPath, wellFormed,
} from './names.js';
import { adminCall, setupAdmin } from './files-admin.js';

const app = document.getElementById('files-app');
const rows = document.getElementById('file-rows');
const crumbs = document.getElementById('crumbs');
const errorEl = document.getElementById('files-error');
const emptyEl = document.getElementById('empty');
const filterEl = document.getElementById('filter');
const transferRows = document.getElementById('transfer-rows');
const isAdmin = app.dataset.admin === 'yes';
const hosts = hostsOf(app);
const ports = { http: app.dataset.httpPort, tftp: app.dataset.tftpPort, file: app.dataset.filePort };

const state = {
  path: new URLSearchParams(location.search).get('path') || '',
  entries: [],
  sortKey: 'name',
  sortDir: 1,
  open: new Set(), // paths whose Fetch… row is open
  renaming: null, // { path, form } while a name is being edited
  host: chosenHost(hosts),
};

function showError(message) {
  errorEl.textContent = message;
  errorEl.hidden = !message;
}

function link(text, href, onClick) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  if (onClick) a.addEventListener('click', (e) => { e.preventDefault(); onClick(); });
  return a;
}

function detailsRow(entry) {
  const tr = document.createElement('tr');
  tr.className = 'details';
  const td = document.createElement('td');
  td.colSpan = 4;
  for (const [label, command] of nativeCommands(entry, state.host, ports)) {
    const div = document.createElement('div');
    div.className = 'hint';
    const span = document.createElement('span');
    span.className = 'hint-label';
    span.textContent = label;
    const pre = document.createElement('pre');
    const code = document.createElement('code');
    code.textContent = command;
    pre.append(code);
    const copy = button('Copy', `Copy ${label} command for ${shown(entry)}`, null, 'copy');
    copy.dataset.copy = command;
    div.append(span, pre, copy);
    td.append(div);
  }
  const hash = document.createElement('p');
  hash.className = 'sha';
  hash.append(button('SHA-256', `Compute SHA-256 of ${shown(entry)}`, async (e) => {
    e.target.disabled = true;
    const out = document.createElement('code');
    out.textContent = 'computing…';
    hash.append(' ', out);
    const r = await fetch(`/api/files/sha256?path=${encodeURIComponent(wellFormed(entry.path))}`);
    const body = await r.json();
    out.textContent = r.ok ? body.sha256 : body.error;
  }));
  td.append(hash);
  tr.append(td);
  return tr;
}

function encodingBadge(entry) {
  const note = ENCODING_NOTES[entry.encoding];
  if (!note) return [];
  const badge = document.createElement('span');
  badge.className = 'badge encoding';
  badge.textContent = note[0];
  badge.title = note[1];
  return [' ', badge];
}

// Rename in place: the name cell becomes a field with Save and Cancel (Enter, Escape).
function renameForm(entry) {
  const label = shown(entry);
  const form = document.createElement('form');
  form.className = 'rename-form';
  const input = document.createElement('input');
  input.value = renameSuggestion(entry);
  input.required = true;
  input.setAttribute('aria-label', `New name for ${label}`);
  const error = document.createElement('span');
  error.className = 'error';
  error.setAttribute('role', 'alert');
  const cancel = () => { state.renaming = null; render(); };
  form.append(input, button('Save', `Save the new name of ${label}`, null, 'primary'),
    button('Cancel', `Cancel renaming ${label}`, cancel), error);
  form.querySelector('.primary').type = 'submit';
  input.addEventListener('keydown', (e) => { if (e.key === 'Escape') cancel(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const target = input.value.trim();
    if (!target || target === entry.path) { cancel(); return; }
    const failed = await adminCall('POST', '/api/files/rename', { from: entry.path, to: target });
    if (failed) { error.textContent = failed; input.focus(); return; }
    state.renaming = null;
    load();
  });
  return form;
}

function nameCell(entry) {
  const td = document.createElement('td');
  td.className = 'name';
  if (state.renaming && state.renaming.path === entry.path) {
    td.append(state.renaming.form); // the same form across live refreshes keeps what was typed
    return td;
  }
  const label = shown(entry);
  if (entry.type === 'dir') {
    td.append(link(`${label}/`, `?path=${encodeURIComponent(wellFormed(entry.path))}`, () => navigate(entry.path)));
  } else {
    // raw bytes percent-encoded: a copied link works in curl as it is
    td.append(link(label, `/files/${percentBytes(nameBytes(entry.path))}`));
  }
  td.append(...encodingBadge(entry));
  return td;
}

function entryRow(entry) {
  const tr = document.createElement('tr');
  tr.dataset.encoding = entry.encoding || 'utf-8';
  const label = shown(entry);
  const size = document.createElement('td');
  size.textContent = entry.type === 'dir' ? '—' : formatBytes(entry.size);
  size.title = `${entry.size} bytes`;
  const modified = document.createElement('td');
  modified.textContent = new Date(entry.modified * 1000).toLocaleString();
  const actions = document.createElement('td');
  const buttons = document.createElement('div'); // a flex box inside the cell: a flex td leaves the table grid
  buttons.className = 'row-actions';
  actions.append(buttons);
  if (entry.type !== 'dir') {
    const fetchButton = button('Fetch…', `How to fetch ${label}`, () => {
      if (state.open.has(entry.path)) state.open.delete(entry.path);
      else state.open.add(entry.path);
      render();
    });
    fetchButton.setAttribute('aria-expanded', String(state.open.has(entry.path)));
    buttons.append(fetchButton);
  }
  if (isAdmin) {
    buttons.append(button('Rename', `Rename ${label}`, () => {
      state.renaming = { path: entry.path, form: renameForm(entry) };
      render();
      const input = state.renaming.form.querySelector('input');
      input.focus();
      input.select();
    }));
    buttons.append(button('Delete', `Delete ${label}`, async () => {
      const what = entry.type === 'dir' ? `the folder ${label} and everything in it` : label;
      if (!confirm(`Delete ${what}?`)) return;
      const failed = await adminCall('DELETE', `/api/files/${urlPath(entry.path)}`);
      showError(failed || '');
      if (!failed) load();
    }, 'danger'));
  }
  tr.append(nameCell(entry), size, modified, actions);
  return tr;
}

// One entry's rows; an entry that cannot be drawn costs its own row, never the listing.
function entryRows(entry) {
  try {
    return state.open.has(entry.path) ? [entryRow(entry), detailsRow(entry)] : [entryRow(entry)];
  } catch (err) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = 4;
    td.textContent = `${String(shown(entry))}: cannot be shown (${err.message})`;
    tr.append(td);
    return [tr];
  }
}

function render() {
  const needle = filterEl.value.trim().toLowerCase();
  const { sortKey, sortDir } = state;
  const visible = state.entries
    .filter((e) => !needle || shown(e).toLowerCase().includes(needle))
    .sort((a, b) => (a.type === b.type ? 0 : a.type === 'dir' ? -1 : 1)
      || (sortKey === 'name' ? shown(a).localeCompare(shown(b)) : a[sortKey] - b[sortKey]) * sortDir);
  const editing = state.renaming && state.renaming.form.contains(document.activeElement)
    ? document.activeElement : null;
  const selection = editing && editing.tagName === 'INPUT' ? [editing.selectionStart, editing.selectionEnd] : null;
  // a listing refreshed by a live change keeps the rows the user had opened and the name being typed
  rows.replaceChildren(...visible.flatMap(entryRows));
  if (editing && editing.isConnected) {
    editing.focus();
    if (selection) editing.setSelectionRange(...selection);
  }
  emptyEl.hidden = visible.length > 0;
  emptyEl.textContent = state.entries.length ? 'Nothing matches the filter.' : 'This folder is empty.';
  for (const th of document.querySelectorAll('th[aria-sort]')) {
    const key = th.querySelector('button.sort').dataset.key;
    th.setAttribute('aria-sort', key === sortKey ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
  }
}

function renderCrumbs(parts) {
  crumbs.replaceChildren(link('files', '?path=', () => navigate('')));
  for (const part of parts) {
    crumbs.append(' / ', link(shown(part), `?path=${encodeURIComponent(wellFormed(part.path))}`, () => navigate(part.path)));
  }
  const last = crumbs.lastElementChild;
  if (last) last.setAttribute('aria-current', 'page');
}

async function load() {
  const response = await fetch(`/api/files?path=${encodeURIComponent(wellFormed(state.path))}`);
  const body = await response.json();
  if (!response.ok) { showError(body.error); return; }
  showError('');
  state.entries = body.entries;
  if (state.renaming && !state.entries.some((e) => e.path === state.renaming.path)) state.renaming = null;
  renderCrumbs(body.crumbs || []);
  render();
}

const socket = liveSocket('/ws/files', (message) => {
  if (message.type === 'watching') {
    if (message.folder === state.path) load();
  } else if (message.type === 'files-changed') {
    if (message.folders.includes('*') || message.folders.includes(state.path)) load();
  } else if (message.type === 'transfers' || message.type === 'transfer-updates') {
    applyTransfers(message.transfers, message.type === 'transfers');
    renderTransfers(transferRows);
  }
}, { onOpen: () => socket.send({ watch: state.path }) });

// elapsed and ETA of running transfers count on between updates
setInterval(() => { if (hasRunning()) renderTransfers(transferRows); }, 1000);

function navigate(path) {
  state.path = path;
  state.renaming = null;
  history.pushState({ path }, '', `?path=${encodeURIComponent(wellFormed(path))}`);
  socket.send({ watch: path });
  load();
}

window.addEventListener('popstate', (e) => {
  state.path = (e.state && e.state.path) || '';
  socket.send({ watch: state.path });
  load();
});

for (const b of document.querySelectorAll('button.sort')) {
  b.addEventListener('click', () => {
    state.sortDir = state.sortKey === b.dataset.key ? -state.sortDir : 1;
    state.sortKey = b.dataset.key;
    render();
  });
}
filterEl.addEventListener('input', render);
wireCopyButtons();
wireHostPicker(hosts, (host) => { state.host = host; render(); });
if (isAdmin) setupAdmin({ currentPath: () => state.path, reload: load, maxUpload: Number(app.dataset.maxUpload) });

load();
