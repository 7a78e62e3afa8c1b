// The admin's part of the Files page: uploads (drop or pick; progress, Cancel, Replace when the
// name is taken, Clear finished) and a new folder, all in the page: no prompt().
import { button, formatBytes } from './common.js';
import { wellFormed } from './names.js';

// A JSON admin request; the error text to show, or null when it worked.
export async function adminCall(method, url, body) {
  const response = await fetch(url, {
    method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  if (response.ok) return null;
  const data = await response.json().catch(() => ({}));
  return data.error || `${method} failed: ${response.status}`;
}

function errorText(xhr) {
  try {
    return JSON.parse(xhr.responseText).error || `status ${xhr.status}`;
  } catch {
    return `status ${xhr.status}`;
  }
}

export function setupAdmin({ currentPath, reload, maxUpload }) {
  const list = document.getElementById('uploads');
  const clear = document.getElementById('clear-uploads');
  const zone = document.getElementById('dropzone');
  const input = document.getElementById('file-input');
  document.getElementById('limit-text').textContent = formatBytes(maxUpload);

  const updateClear = () => { clear.hidden = !list.querySelector('li[data-result]:not([data-result="running"])'); };
  clear.addEventListener('click', () => {
    for (const li of list.querySelectorAll('li[data-result]:not([data-result="running"])')) li.remove();
    updateClear();
    input.focus();
  });

  // One upload in its own list item; `li` is reused when Replace sends the file again.
  function upload(file, folder, { overwrite = false, li = document.createElement('li') } = {}) {
    const label = document.createElement('span');
    label.className = 'upload-name';
    label.textContent = `${file.name} (${formatBytes(file.size)})`;
    li.replaceChildren(label, ' ');
    if (!li.isConnected) list.append(li);
    const status = document.createElement('span');
    status.className = 'upload-status';
    let cancel = null;
    const finish = (result, text) => {
      li.dataset.result = result;
      status.textContent = text;
      if (cancel) cancel.remove();
      updateClear();
    };
    if (file.size > maxUpload) {
      li.append(status);
      finish('failed', `not sent: larger than the upload limit of ${formatBytes(maxUpload)}`);
      return;
    }
    li.dataset.result = 'running';
    const bar = document.createElement('progress');
    bar.max = file.size || 1;
    bar.value = 0;
    bar.setAttribute('aria-label', `Upload progress of ${file.name}`);
    status.textContent = '0%';
    const xhr = new XMLHttpRequest();
    cancel = button('Cancel', `Cancel upload of ${file.name}`, () => xhr.abort());
    li.append(bar, ' ', status, ' ', cancel);
    xhr.upload.addEventListener('progress', (e) => {
      bar.value = e.loaded;
      status.textContent = `${Math.floor((100 * e.loaded) / (e.total || 1))}%`;
    });
    xhr.addEventListener('load', () => {
      if (xhr.status === 201) {
        bar.value = bar.max;
        finish('ok', overwrite ? 'replaced' : 'uploaded');
        reload();
        return;
      }
      bar.hidden = true; // a full bar would read as success
      if (xhr.status !== 409) {
        finish('failed', `failed: ${errorText(xhr)}`);
        return;
      }
      finish('conflict', `${file.name} exists already: nothing was changed.`);
      const replace = button('Replace', `Replace ${file.name} with the uploaded file`,
        () => upload(file, folder, { overwrite: true, li }), 'danger');
      li.append(' ', replace);
      replace.focus();
    });
    xhr.addEventListener('error', () => { bar.hidden = true; finish('failed', 'failed: connection lost'); });
    xhr.addEventListener('abort', () => { bar.hidden = true; finish('cancelled', 'cancelled'); });
    const form = new FormData();
    form.append('path', folder);
    form.append('file', file, file.name);
    // size: the file's own, for the transfer list (the request's length includes the framing)
    const query = new URLSearchParams({ path: wellFormed(folder), size: String(file.size) });
    if (overwrite) query.set('overwrite', '1');
    xhr.open('POST', `/api/files?${query}`);
    xhr.send(form);
  }

  const uploadAll = (files) => [...files].forEach((f) => upload(f, currentPath()));
  input.addEventListener('change', () => { uploadAll(input.files); input.value = ''; });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    uploadAll(e.dataTransfer.files);
  });
  setupNewFolder(currentPath, reload);
}

// "New folder" opens a small form next to it; Enter creates, Escape or Cancel closes.
function setupNewFolder(currentPath, reload) {
  const open = document.getElementById('new-folder');
  const form = document.getElementById('new-folder-form');
  const name = document.getElementById('new-folder-name');
  const error = document.getElementById('new-folder-error');
  const close = () => {
    form.hidden = true;
    open.setAttribute('aria-expanded', 'false');
    error.textContent = '';
    name.value = '';
    open.focus();
  };
  open.addEventListener('click', () => {
    form.hidden = !form.hidden;
    open.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) name.focus();
  });
  document.getElementById('new-folder-cancel').addEventListener('click', close);
  name.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const folder = name.value.trim();
    if (!folder) return;
    const path = currentPath() ? `${currentPath()}/${folder}` : folder;
    const failed = await adminCall('POST', '/api/folders', { path });
    if (failed) { error.textContent = failed; name.focus(); return; }
    close();
    reload();
  });
}
