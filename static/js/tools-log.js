// One session's log on the Tools page: events in sequence order, shown as text in the
// pane's chosen encoding and/or as hex, with or without timestamps. Network bytes reach
// the page only through textContent.
import { el, hexToBytes, pad } from './common.js';

const MAX_SHOWN = 500;

// TextDecoder's 'latin-1' is windows-1252 (the Encoding standard); a device's Latin-1 is
// one byte, one code point.
function decoderFor(encoding) {
  if (encoding === 'latin-1') return { decode: (bytes) => String.fromCharCode(...bytes) };
  return new TextDecoder(encoding);
}

// Control characters as a visible dot; one final line ending dropped, inner ones kept.
export function displayText(text) {
  return text.replace(/\r?\n$|\r$/, '').replace(/\r\n/g, '\n')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '·');
}

export function clockTime(seconds) {
  const d = new Date(seconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

const ARROWS = { in: '→\u00a0in', out: '←\u00a0out', info: '•' }; // no break inside

const span = (className, text) => el('span', className, text);

export class SessionLog {
  constructor(list) {
    this.list = list;
    this.events = [];
    this.lastSeq = 0;
    this.setEncoding('utf-8');
  }

  setEncoding(encoding) {
    this.encoding = encoding;
    this.decoder = decoderFor(encoding);
  }

  item(e) {
    const li = document.createElement('li');
    li.dataset.dir = e.direction;
    const parts = [span('time', clockTime(e.time)), span('dir', ARROWS[e.direction] ?? e.direction)];
    if (e.peer) parts.push(span('peer', e.peer));
    if (e.direction === 'info') {
      parts.push(span('info', e.info));
    } else {
      const bytes = hexToBytes(e.hex);
      const cut = e.length > bytes.length ? ` (first ${bytes.length} shown)` : '';
      parts.push(span('text', displayText(this.decoder.decode(bytes))),
        span('hex', e.hex.match(/../g)?.join(' ') ?? ''), span('length', `${e.length} B${cut}`));
    }
    parts.forEach((part, i) => li.append(...(i ? [' ', part] : [part]))); // spaces: a copied line reads right
    return li;
  }

  // Whether the newest line is in view: then new lines keep it in view (a reader who
  // scrolled up to read is left where they are).
  atBottom() {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 8;
  }

  add(e) {
    if (e.seq <= this.lastSeq) return; // already shown (a snapshot and an update overlap)
    const follow = this.atBottom();
    this.lastSeq = e.seq;
    this.events.push(e);
    this.list.append(this.item(e));
    while (this.events.length > MAX_SHOWN) {
      this.events.shift();
      this.list.firstElementChild.remove();
    }
    if (follow) this.list.scrollTop = this.list.scrollHeight;
  }

  // The whole log again: after a reconnect, or in another encoding.
  reset(events = this.events) {
    this.events = [];
    this.lastSeq = 0;
    this.list.replaceChildren();
    [...events].sort((a, b) => a.seq - b.seq).forEach((e) => this.add(e));
    this.list.scrollTop = this.list.scrollHeight;
  }

  clear() {
    this.events = [];
    this.list.replaceChildren();
  }
}
