// The conversation ladder (Wireshark's Flow Graph): the peer's lifeline on the left, sockdash's
// on the right, one arrow per event from the sender to the receiver, time down the side. A
// conversation is one service between one peer address and one local address: a TCP
// connection, a TFTP transfer, a UDP chat peer. Its events are fetched from the server (the
// list may hold only a filter's events) and follow live; clicking an arrow shows that packet.
import { isHiddenPrivate, preview, stamp } from './packets-decode.js';
import { el } from './common.js';

const KEEP_CONVERSATIONS = 200; // in the chooser, the most recently active ones
const SHOWN = 500; // arrows drawn; a longer conversation shows its newest

export function conversationKey(e) {
  return `${e.service} ${e.peer} ${e.local}`;
}

function label(e) {
  if (e.kind === 'open') return 'connect (SYN)';
  if (e.kind === 'close') {
    if (e.direction === 'out') return 'close by sockdash (FIN)';
    return /reset/i.test(e.summary) ? 'reset by peer (RST)' : 'close by peer (FIN)';
  }
  return isHiddenPrivate(e) ? `${e.length} B: direct message` : `${e.length} B: ${preview(e)}`;
}

export class Ladder {
  constructor(select, box, onPick) {
    this.select = select;
    this.box = box;
    this.onPick = onPick;
    this.known = new Map(); // key -> label, oldest activity first
    this.events = []; // of the chosen conversation
    this.generation = 0;
    select.addEventListener('change', () => this.choose(select.value));
    box.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-id]');
      if (!button) return;
      const e = this.events.find((x) => x.id === Number(button.dataset.id));
      if (e) {
        this.box.querySelectorAll('[aria-current]').forEach((b) => b.removeAttribute('aria-current'));
        button.setAttribute('aria-current', 'true');
        this.onPick(e);
      }
    });
  }

  // events the page received: new conversations for the chooser, new arrows for the ladder
  offer(events) {
    let changed = false;
    for (const e of events) {
      const key = conversationKey(e);
      if (this.known.has(key)) this.known.delete(key); // move to the end: most recent
      else changed = true;
      this.known.set(key, `${e.service}: ${e.peer} ⇄ ${e.local}`);
    }
    while (this.known.size > KEEP_CONVERSATIONS) { this.known.delete(this.known.keys().next().value); changed = true; }
    if (changed) this.fillChooser();
    const chosen = this.select.value;
    if (!chosen) return;
    const last = this.events.length ? this.events[this.events.length - 1].id : 0;
    const fresh = events.filter((e) => e.id > last && conversationKey(e) === chosen);
    if (fresh.length) {
      this.events.push(...fresh);
      this.draw();
    }
  }

  fillChooser() {
    const current = this.select.value;
    const options = [...this.known].reverse().map(([key, text]) => new Option(text, key));
    this.select.replaceChildren(new Option('choose…', ''), ...options);
    if (current && !this.known.has(current)) this.select.append(new Option(current, current));
    this.select.value = current;
  }

  async choose(key) {
    const generation = ++this.generation;
    this.events = [];
    if (!key) { this.box.replaceChildren(); return; }
    const [service, peer, local] = key.split(' ');
    const params = new URLSearchParams({ service, peer, limit: '10000' });
    try {
      const body = await fetch(`/api/packets?${params}`).then((r) => (r.ok ? r.json() : Promise.reject(r.statusText)));
      if (generation !== this.generation) return;
      // the peer filter matches a part of the address: keep this exact conversation
      const fetched = body.events.filter((e) => e.peer === peer && e.local === local);
      const newest = fetched.length ? fetched[fetched.length - 1].id : 0;
      this.events = [...fetched, ...this.events.filter((e) => e.id > newest)]; // arrived live meanwhile
    } catch (error) {
      if (generation !== this.generation) return;
      const p = document.createElement('p');
      p.className = 'error';
      p.textContent = `Could not load the conversation: ${error}`;
      this.box.replaceChildren(p);
      return;
    }
    this.draw();
  }

  draw() {
    const key = this.select.value;
    if (!key) return;
    const [service, peer, local] = key.split(' ');
    const first = this.events.length ? this.events[0].time_us : 0;
    const shown = this.events.slice(-SHOWN);
    const ends = document.createElement('div');
    ends.className = 'ladder-ends';
    const span = (className, text) => el('span', className, text);
    const endsLane = span('lane', '');
    endsLane.append(span('end-peer', `peer ${peer}`), span('end-local', `${service} ${local}`));
    ends.append(span('ladder-time', 'Time'), endsLane, span('ladder-id', 'No.'));
    const parts = [ends];
    if (this.events.length > shown.length) {
      parts.push(span('note', `The first ${this.events.length - shown.length} of ${this.events.length} events are not drawn.`));
    }
    const list = document.createElement('ol');
    list.className = 'rungs';
    for (const e of shown) {
      const li = document.createElement('li');
      li.className = 'rung';
      li.dataset.dir = e.direction;
      li.dataset.kind = e.kind;
      const time = span('ladder-time', stamp(e.time_us));
      time.append(el('small', '', `+${((e.time_us - first) / 1e6).toFixed(6)} s`));
      const lane = span('lane', '');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'rung-arrow';
      button.dataset.id = e.id;
      const text = label(e);
      button.textContent = text;
      button.title = text;
      button.setAttribute('aria-label', `#${e.id} ${e.direction === 'in' ? 'peer to sockdash' : 'sockdash to peer'}: ${text}`);
      lane.append(button);
      li.append(time, lane, span('ladder-id', `#${e.id}`));
      list.append(li);
    }
    parts.push(list);
    this.box.replaceChildren(...parts);
  }
}
