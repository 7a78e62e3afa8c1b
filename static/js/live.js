// A WebSocket that reconnects with backoff and reports its state in the header, and to
// onState(state) if given ('connecting' | 'live' | 'offline').
const MIN_DELAY = 500;
const MAX_DELAY = 10000;

export function liveSocket(path, onMessage, { onOpen, onState } = {}) {
  const stateEl = document.getElementById('live-state');
  let delay = MIN_DELAY;
  let timer = null;
  let current = null;

  function setState(state, text) {
    if (stateEl) {
      stateEl.dataset.state = state;
      stateEl.textContent = text;
    }
    if (onState) onState(state);
  }

  function open() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}${path}`);
    current = ws;
    setState('connecting', 'connecting…');
    ws.addEventListener('open', () => {
      delay = MIN_DELAY;
      setState('live', 'live');
      if (onOpen) onOpen();
    });
    ws.addEventListener('message', (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      onMessage(message);
    });
    ws.addEventListener('close', () => {
      const seconds = Math.round(delay / 100) / 10;
      setState('offline', `offline — retrying in ${seconds} s`);
      clearTimeout(timer);
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, MAX_DELAY);
    });
  }
  open();
  return {
    send(message) {
      if (current && current.readyState === WebSocket.OPEN) current.send(JSON.stringify(message));
    },
  };
}

export function formatBytes(n) {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
