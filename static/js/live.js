// A WebSocket that reconnects with backoff and reports its state in the header, and to
// onState(state, retryMs) if given: 'connecting', 'live', or 'offline' with the delay (ms)
// before the next try. Pages follow the connection through it, not by watching the header.
const MIN_DELAY = 500;
const MAX_DELAY = 10000;

// --bus: the header's "bus: reconnecting" badge (base.html) follows /api/status on every page
const BUS_POLL_MS = 3000;
const busEl = document.getElementById('bus-state');
if (busEl) {
  setInterval(async () => {
    const response = await fetch('/api/status').catch(() => null);
    if (!response || !response.ok) return;
    const { bus } = await response.json();
    if (!bus) return;
    busEl.dataset.busState = bus.state;
    busEl.hidden = bus.state === 'connected';
    busEl.textContent = `bus: ${bus.state}`;  // reconnecting (Redis away) or degraded (Redis refuses)
  }, BUS_POLL_MS);
}

export function liveSocket(path, onMessage, { onOpen, onState } = {}) {
  const stateEl = document.getElementById('live-state');
  let delay = MIN_DELAY;
  let timer = null;
  let current = null;

  function setState(state, text, retryMs = 0) {
    if (stateEl) {
      stateEl.dataset.state = state;
      stateEl.textContent = text;
    }
    if (onState) onState(state, retryMs);
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
      setState('offline', `offline — retrying in ${seconds} s`, delay);
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
