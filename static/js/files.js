// The Files page: browse, sort, filter, fetch natively, hash; as admin upload, rename, delete.
//
// Every name comes from the server in the wire form (docs/websocket.md, "Names"): valid
// Unicode, whatever the bytes on disk, so nothing here can throw on a name; `display` is
// what people read and `encoding` says how it was read (utf-8, gbk, or escaped bytes).
import { liveSocket, formatBytes } from './live.js';
import { wireCopyButtons } from './copy.js';
import { applyTransfers, renderTransfers } from './transfers.js';

const app = document.getElementById('files-app');
const rows = document.getElementById('file-rows');
const crumbs = document.getElementById('crumbs');
const errorEl = document.getElementById('files-error');
const emptyEl = document.getElementById('empty');
const filterEl = document.getElementById('filter');
const transferRows = document.getElementById('transfer-rows');
const isAdmin = app.dataset.admin === 'yes';
const maxUpload = Number(app.dataset.maxUpload);

const state = {
  path: new URLSearchParams(location.search).get('path') || '', entries: [], sortKey: 'name', sortDir: 1, open: new Set(),
};

function showError(message) {
  errorEl.textContent = message;
  errorEl.hidden = !message;
}

const B64_MARK = '~b64:';
const ENCODING_NOTES = {
  gbk: ['GBK', 'The name is GBK bytes on disk (e.g. from a Windows zip), shown decoded'],
  escaped: ['bytes', 'The name holds bytes that are neither UTF-8 nor GBK, shown as \\xNN'],
};

function wellFormed(text) {
  // the server never sends a lone surrogate; should one come, show it, never throw
  return typeof text.toWellFormed === 'function' ? text.toWellFormed() : text;
}

function urlPath(path) {
  return wellFormed(path).split('/').map(encodeURIComponent).join('/');
}

function shown(entry) {
  return entry.display ?? entry.name;
}

// The bytes on disk of a wire-form path: "~b64:" parts are URL-safe base64, the rest UTF-8.
function nameBytes(path) {
  const parts = wellFormed(path).split('/').map((part) => {
    if (!part.startsWith(B64_MARK)) return [...new TextEncoder().encode(part)];
    try {
      return [...atob(part.slice(B64_MARK.length).replace(/-/g, '+').replace(/_/g, '/'))].map((c) => c.charCodeAt(0));
    } catch {
      return [...new TextEncoder().encode(part)];
    }
  });
  return parts.reduce((all, part, i) => (i ? [...all, 0x2f, ...part] : part), []);
}

const isWireText = (path) => !path.split('/').some((part) => part.startsWith(B64_MARK));

// Percent-encoded raw bytes: what curl sends, and what the server reads back byte-exact.
function percentBytes(bytes) {
  return bytes.map((b) => (/[A-Za-z0-9._~\/-]/.test(String.fromCharCode(b)) && b < 0x80
    ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

function shellQuote(text) {
  return /^[A-Za-z0-9._\/-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

// A shell word for a path's exact bytes: plain text when it is UTF-8, else printf with octal escapes.
function shellBytes(path) {
  if (isWireText(path)) return shellQuote(path);
  const escaped = nameBytes(path).map((b) => (/[A-Za-z0-9._\/-]/.test(String.fromCharCode(b)) && b < 0x80
    ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`)).join('');
  return `"$(printf '${escaped}')"`;
}

// Where a native download is saved: the readable name, unless it is escaped bytes (kept exact).
function localName(entry) {
  const name = entry.name ?? entry.path.split('/').pop();
  return entry.encoding === 'escaped' || entry.display === undefined ? shellBytes(name) : shellQuote(entry.display);
}

function button(label, ariaLabel, onClick, className = '') {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.className = className;
  if (ariaLabel) b.setAttribute('aria-label', ariaLabel);
  b.addEventListener('click', onClick);
  return b;
}

function link(text, href, onClick) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  if (onClick) a.addEventListener('click', (e) => { e.preventDefault(); onClick(); });
  return a;
}

function nativeCommands(entry) {
  const host = app.dataset.host;
  const uhost = host.includes(':') ? `[${host}]` : host;
  const name = localName(entry);
  const remote = shellBytes(entry.path);
  const url = percentBytes(nameBytes(entry.path));
  const commands = [];
  // curl -O saves under the URL's last part as sent (still percent-encoded): plain names only
  const curlOut = /%/.test(url) ? `-o ${name}` : '-O';
  if (app.dataset.httpPort) commands.push(['curl', `curl ${curlOut} http://${uhost}:${app.dataset.httpPort}/files/${url}`]);
  if (app.dataset.tftpPort) commands.push(['tftp', `tftp ${host} ${app.dataset.tftpPort} -m binary -c get ${remote} ${name}`]);
  if (app.dataset.filePort) commands.push(['netcat', `printf '%s' ${remote} | nc ${host} ${app.dataset.filePort} > ${name}`]);
  return commands;
}

function detailsRow(entry) {
  const tr = document.createElement('tr');
  tr.className = 'details';
  const td = document.createElement('td');
  td.colSpan = 4;
  for (const [label, command] of nativeCommands(entry)) {
    const div = document.createElement('div');
    div.className = 'hint';
    const span = document.createElement('span');
    span.className = 'hint-label';
    span.textContent = label;
    const pre = document.createElement('pre');
    const code = document.createElement('code');
    code.textContent = command;
    pre.append(code);
    const copy = button('Copy', `Copy ${label} command for ${shown(entry)}`, () => {});
    copy.className = 'copy';
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

async function adminCall(method, url, body) {
  const response = await fetch(url, {
    method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    showError(data.error || `${method} failed: ${response.status}`);
    return false;
  }
  showError('');
  return true;
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

// The readable name a rename starts from: renaming a GBK name to it stores it in UTF-8.
function renameSuggestion(entry) {
  if (entry.encoding === 'escaped' || entry.display === undefined) return entry.path;
  const folder = entry.path.includes('/') ? entry.path.slice(0, entry.path.lastIndexOf('/') + 1) : '';
  return folder + entry.display;
}

function entryRow(entry) {
  const tr = document.createElement('tr');
  tr.dataset.encoding = entry.encoding || 'utf-8';
  const name = document.createElement('td');
  const label = shown(entry);
  if (entry.type === 'dir') {
    name.append(link(`${label}/`, `?path=${encodeURIComponent(wellFormed(entry.path))}`, () => navigate(entry.path)));
  } else {
    // raw bytes percent-encoded: a copied link works in curl as it is
    name.append(link(label, `/files/${percentBytes(nameBytes(entry.path))}`));
  }
  name.append(...encodingBadge(entry));
  const size = document.createElement('td');
  size.textContent = entry.type === 'dir' ? '—' : formatBytes(entry.size);
  size.title = `${entry.size} bytes`;
  const modified = document.createElement('td');
  modified.textContent = new Date(entry.modified * 1000).toLocaleString();
  const actions = document.createElement('td');
  actions.className = 'actions';
  if (entry.type !== 'dir') {
    actions.append(button('Fetch…', `How to fetch ${label}`, () => {
      const next = tr.nextElementSibling;
      if (next && next.classList.contains('details')) {
        next.remove();
        state.open.delete(entry.path);
      } else {
        tr.after(detailsRow(entry));
        state.open.add(entry.path);
      }
    }));
  }
  if (isAdmin) {
    actions.append(button('Rename', `Rename ${label}`, async () => {
      const target = prompt(`New name for ${label}`, renameSuggestion(entry));
      if (target && target !== entry.path && await adminCall('POST', '/api/files/rename', { from: entry.path, to: target })) load();
    }));
    actions.append(button('Delete', `Delete ${label}`, async () => {
      const what = entry.type === 'dir' ? `the folder ${label} and everything in it` : label;
      if (confirm(`Delete ${what}?`) && await adminCall('DELETE', `/api/files/${urlPath(entry.path)}`)) load();
    }, 'danger'));
  }
  tr.append(name, size, modified, actions);
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
  // a listing refreshed by a live change keeps the rows the user had opened
  rows.replaceChildren(...visible.flatMap(entryRows));
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
}

async function load() {
  const response = await fetch(`/api/files?path=${encodeURIComponent(wellFormed(state.path))}`);
  const body = await response.json();
  if (!response.ok) { showError(body.error); return; }
  showError('');
  state.entries = body.entries;
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

function navigate(path) {
  state.path = path;
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

load();

// ---- admin: uploads and folders -------------------------------------------------------
function uploadOne(file, list) {
  const li = document.createElement('li');
  const label = document.createElement('span');
  label.textContent = `${file.name} (${formatBytes(file.size)}) `;
  li.append(label);
  list.append(li);
  if (file.size > maxUpload) {
    const refused = document.createElement('strong');
    refused.className = 'error';
    refused.textContent = `not sent: larger than the upload limit of ${formatBytes(maxUpload)}`;
    li.append(refused);
    return;
  }
  const bar = document.createElement('progress');
  bar.max = file.size || 1;
  bar.value = 0;
  bar.setAttribute('aria-label', `Upload progress of ${file.name}`);
  const status = document.createElement('span');
  status.className = 'upload-status';
  status.textContent = ' 0%';
  const xhr = new XMLHttpRequest();
  const cancel = button('Cancel', `Cancel upload of ${file.name}`, () => xhr.abort());
  li.append(bar, status, ' ', cancel);
  xhr.upload.addEventListener('progress', (e) => {
    bar.value = e.loaded;
    status.textContent = ` ${Math.floor((100 * e.loaded) / (e.total || 1))}%`;
  });
  const done = (text, ok) => {
    status.textContent = ` ${text}`;
    li.dataset.result = ok ? 'ok' : 'failed';
    cancel.remove();
    if (ok) bar.value = bar.max;
  };
  xhr.addEventListener('load', () => {
    if (xhr.status === 201) { done('uploaded', true); load(); return; }
    let message = `failed (${xhr.status})`;
    try { message = `failed: ${JSON.parse(xhr.responseText).error}`; } catch { /* keep the status */ }
    done(message, false);
  });
  xhr.addEventListener('error', () => done('failed: connection lost', false));
  xhr.addEventListener('abort', () => done('cancelled', false));
  const form = new FormData();
  form.append('path', state.path);
  form.append('file', file, file.name);
  xhr.open('POST', `/api/files?path=${encodeURIComponent(wellFormed(state.path))}`);
  xhr.send(form);
}

if (isAdmin) {
  const list = document.getElementById('uploads');
  const zone = document.getElementById('dropzone');
  const input = document.getElementById('file-input');
  document.getElementById('limit-text').textContent = formatBytes(maxUpload);
  input.addEventListener('change', () => { [...input.files].forEach((f) => uploadOne(f, list)); input.value = ''; });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    [...e.dataTransfer.files].forEach((f) => uploadOne(f, list));
  });
  document.getElementById('new-folder').addEventListener('click', async () => {
    const name = prompt('Name of the new folder');
    if (!name) return;
    const path = state.path ? `${state.path}/${name}` : name;
    if (await adminCall('POST', '/api/folders', { path })) load();
  });
}
