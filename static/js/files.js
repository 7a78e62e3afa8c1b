import { formatBytes } from './live.js';

const rows = document.getElementById('file-rows');
const crumbs = document.getElementById('crumbs');
const error = document.getElementById('files-error');

function encodePath(path) {
  return path.split('/').map(encodeURIComponent).join('/');
}

function link(text, onClick) {
  const a = document.createElement('a');
  a.href = '#';
  a.textContent = text;
  a.addEventListener('click', (e) => { e.preventDefault(); onClick(); });
  return a;
}

function renderCrumbs(path) {
  crumbs.replaceChildren(link('files', () => load('')));
  let sofar = '';
  for (const part of path.split('/').filter(Boolean)) {
    sofar = sofar ? `${sofar}/${part}` : part;
    const target = sofar;
    crumbs.append(' / ', link(part, () => load(target)));
  }
}

async function load(path) {
  const response = await fetch(`/api/files?path=${encodeURIComponent(path)}`);
  const body = await response.json();
  if (!response.ok) { error.textContent = body.error; error.hidden = false; return; }
  error.hidden = true;
  renderCrumbs(path);
  rows.replaceChildren();
  for (const entry of body.entries) {
    const tr = document.createElement('tr');
    const name = document.createElement('td');
    if (entry.type === 'dir') {
      name.append(link(`${entry.name}/`, () => load(entry.path)));
    } else {
      const a = document.createElement('a');
      a.href = `/files/${encodePath(entry.path)}`;
      a.textContent = entry.name;
      name.append(a);
    }
    const size = document.createElement('td');
    size.textContent = entry.type === 'dir' ? '' : formatBytes(entry.size);
    const modified = document.createElement('td');
    modified.textContent = new Date(entry.modified * 1000).toLocaleString();
    tr.append(name, size, modified);
    rows.append(tr);
  }
}

document.getElementById('live-state').hidden = true;
load('');
