import { liveSocket, formatBytes } from './live.js';
import { wireCopyButtons } from './copy.js';

function setField(card, field, text) {
  for (const el of card.querySelectorAll(`[data-field="${field}"]`)) el.textContent = text;
}

function render(status) {
  document.getElementById('uptime').textContent = Math.round(status.uptime_s);
  for (const [name, svc] of Object.entries(status.services)) {
    const card = document.getElementById(`card-${name}`);
    if (!card) continue;
    const state = card.querySelector('[data-field="state"]');
    state.dataset.running = svc.running ? 'yes' : 'no';
    state.textContent = svc.running ? 'running' : (svc.disabled ? 'disabled' : 'stopped');
    setField(card, 'port', String(svc.port));
    if (name === 'http') continue;
    setField(card, 'clients', String(svc.clients));
    setField(card, 'packets_per_s', String(Math.round(svc.packets_per_s)));
    setField(card, 'bytes_per_s', formatBytes(svc.bytes_per_s) + '/s');
    setField(card, 'bytes_in', formatBytes(svc.bytes_in));
    setField(card, 'bytes_out', formatBytes(svc.bytes_out));
    setField(card, 'packets_in', String(svc.packets_in));
    setField(card, 'packets_out', String(svc.packets_out));
    const toggle = card.querySelector('button.service-toggle');
    if (toggle) {
      const title = card.querySelector('h2').textContent;
      toggle.textContent = svc.running ? 'Stop' : 'Start';
      toggle.setAttribute('aria-label', `${svc.running ? 'Stop' : 'Start'} ${title}`);
    }
  }
}

document.addEventListener('click', async (event) => {
  const button = event.target.closest('button.service-toggle');
  if (!button) return;
  const action = button.textContent.trim() === 'Stop' ? 'stop' : 'start';
  button.disabled = true;
  try {
    const response = await fetch(`/api/services/${button.dataset.service}/${action}`, { method: 'POST' });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      alert(`Could not ${action} ${button.dataset.service}: ${body.error || response.status}`);
    }
  } finally {
    button.disabled = false;
  }
});

wireCopyButtons();
liveSocket('/ws/status', (message) => { if (message.type === 'status') render(message.status); });
