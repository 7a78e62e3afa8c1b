// The packet list: a virtualised table (only the visible rows exist in the DOM, so tens of
// thousands of events scroll smoothly), one row per event, chosen by click or by the arrow keys.
import { arrow, preview, stamp } from './packets-decode.js';
import { el, pad } from './common.js';

export const ROW = 24; // px, as in the CSS

function cell(text, className) {
  const span = el('span', className, text);
  span.setAttribute('role', 'cell');
  return span;
}

export class PacketList {
  // onSelect(event) when a row is chosen; onBottom(atBottom) when the list reaches or leaves its end
  constructor(table, viewport, spacer, rows, { onSelect, onBottom }) {
    Object.assign(this, { table, viewport, spacer, rows, onSelect, onBottom });
    this.view = []; // the events shown, oldest first
    this.selected = null;
    this.wasAtBottom = true;
    viewport.addEventListener('scroll', () => {
      const bottom = this.atBottom();
      if (bottom !== this.wasAtBottom) {
        this.wasAtBottom = bottom;
        onBottom(bottom);
      }
      this.renderRows();
    });
    rows.addEventListener('click', (event) => {
      const row = event.target.closest('.log-row');
      const e = row && this.view[this.indexOf(Number(row.dataset.id))];
      if (e) onSelect(e);
    });
    viewport.addEventListener('keydown', (event) => this.key(event));
  }

  // Measured, not remembered: a batch that comes before the scroll event of a scroll up must wait too.
  atBottom() {
    const v = this.viewport;
    return v.scrollTop + v.clientHeight >= v.scrollHeight - ROW * 2;
  }

  indexOf(id) {
    // the view is in id order
    let low = 0;
    let high = this.view.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const at = this.view[mid].id;
      if (at === id) return mid;
      if (at < id) low = mid + 1; else high = mid - 1;
    }
    return -1;
  }

  rowFor(e, index) {
    const div = document.createElement('div');
    div.className = 'log-row';
    div.setAttribute('role', 'row');
    div.setAttribute('aria-rowindex', String(index + 2));
    Object.assign(div.dataset, { id: e.id, dir: e.direction, kind: e.kind, service: e.service });
    if (this.selected && e.id === this.selected.id) div.setAttribute('aria-selected', 'true');
    const time = cell(stamp(e.time_us, false), 'time');
    time.append(el('span', 'us', pad(e.time_us % 1000, 3)));
    // with --bus another instance's events say whose they are (this instance's carry no instance)
    const service = cell(e.service);
    if (e.instance) {
      service.append(el('span', 'instance', ` @${e.instance}`));
      service.title = `recorded by instance ${e.instance}`;
    }
    div.append(cell(String(e.id), 'num'), time, service, cell(arrow(e), 'dir'), cell(e.peer),
      cell(String(e.length), 'num'), cell(preview(e), 'summary'));
    return div;
  }

  renderRows() {
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW) - 5);
    const count = Math.ceil(this.viewport.clientHeight / ROW) + 10;
    this.rows.style.transform = `translateY(${first * ROW}px)`;
    this.rows.replaceChildren(...this.view.slice(first, first + count).map((e, i) => this.rowFor(e, first + i)));
  }

  render(keepBottom) {
    this.spacer.style.height = `${this.view.length * ROW}px`;
    this.table.setAttribute('aria-rowcount', String(this.view.length + 1));
    if (keepBottom) this.scrollToBottom();
    this.renderRows();
  }

  scrollToBottom() {
    this.viewport.scrollTop = this.viewport.scrollHeight;
  }

  // the chosen row in the middle of the view, as Wireshark keeps it in view when a filter changes
  reveal(e) {
    const index = e ? this.indexOf(e.id) : -1;
    if (index < 0) return false;
    this.viewport.scrollTop = Math.max(0, index * ROW - this.viewport.clientHeight / 2);
    this.renderRows();
    return true;
  }

  select(e) {
    this.selected = e;
    this.renderRows();
  }

  // Wireshark's keys: up and down move through the packets, Home and End to the ends
  key(event) {
    const moves = { ArrowDown: 1, ArrowUp: -1, Home: -Infinity, End: Infinity };
    if (!(event.key in moves) || !this.view.length) return;
    event.preventDefault();
    const at = this.selected ? this.indexOf(this.selected.id) : -1;
    const index = Math.min(this.view.length - 1, Math.max(0, at < 0 ? this.view.length - 1 : at + moves[event.key]));
    const v = this.viewport;
    if (index * ROW < v.scrollTop) v.scrollTop = index * ROW;
    else if ((index + 1) * ROW > v.scrollTop + v.clientHeight) v.scrollTop = (index + 1) * ROW - v.clientHeight;
    this.onSelect(this.view[index]);
  }
}
