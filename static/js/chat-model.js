// The web chat's state without the page: conversations, how events from the server are
// merged into them without doubles, and the outbox of messages waiting for their ack.
//
// Messages, actions and direct messages carry an id from the server, unique and rising
// (docs/websocket.md). A conversation remembers the ids it holds, so the same event coming
// twice (the history sent again after a reconnect, a resend acked as a duplicate) is shown
// once. Items the server never stores (joins, notices, dividers, messages still sending) have
// no id and stay where they are.

export const MAX_ITEMS = 1000; // items a conversation keeps; older room messages come back with Load older

export const isRoomList = (v) => Array.isArray(v) && v.length > 0 && v.length <= 20
  && v.every((r) => typeof r === 'string' && r.length > 0 && r.length <= 32);

export class Conversation {
  constructor(key) {
    this.key = key;
    this.items = [];
    this.ids = new Set();
    this.unread = 0;
    this.more = false; // older messages are stored on the server
    this.loaded = false; // the first history arrived
    this.trimmed = []; // what the last add pushed out
  }

  get isRoom() { return this.key.startsWith('#'); }

  oldestId() {
    for (const item of this.items) if (item.event.id) return item.event.id;
    return 0;
  }

  // Where new items go: before the messages still waiting for their ack, which stay last.
  tailIndex() {
    let i = this.items.length;
    while (i > 0 && this.items[i - 1].state) i -= 1;
    return i;
  }

  // A live event; false if this conversation has it already.
  add(item) {
    const id = item.event.id;
    if (id && this.ids.has(id)) return false;
    if (id) this.ids.add(id);
    if (item.state) this.items.push(item);
    else this.items.splice(this.tailIndex(), 0, item);
    this.trimmed = this.trim();
    return true;
  }

  // Events from the server (a history, the direct messages of a welcome): the ones this
  // conversation lacks go in id order; none older than what it holds (that is Load older's).
  merge(events) {
    if (!this.loaded) {
      this.loaded = true;
      const fresh = events.filter((e) => !this.ids.has(e.id));
      fresh.forEach((e) => this.ids.add(e.id));
      this.items.splice(0, 0, ...fresh.map((event) => ({ event })));
      this.trim();
      return fresh.length;
    }
    const floor = this.oldestId();
    let added = 0;
    for (const event of [...events].sort((a, b) => a.id - b.id)) {
      if (!event.id || this.ids.has(event.id) || (floor && event.id < floor)) continue;
      let at = this.tailIndex();
      for (let i = at - 1; i >= 0; i -= 1) {
        const id = this.items[i].event.id;
        if (id && id < event.id) break;
        if (id && id > event.id) at = i;
      }
      this.items.splice(at, 0, { event });
      this.ids.add(event.id);
      added += 1;
    }
    this.trim();
    return added;
  }

  // Older messages (Load older): they go first.
  prepend(events, more) {
    const floor = this.oldestId() || Infinity;
    const older = events.filter((e) => e.id && e.id < floor && !this.ids.has(e.id));
    older.forEach((e) => this.ids.add(e.id));
    this.items.splice(0, 0, ...older.map((event) => ({ event })));
    this.more = more;
    return older.length;
  }

  // A "reconnected" line at the end (one, however often the connection came back meanwhile).
  divider(text, time) {
    const at = this.tailIndex();
    const last = this.items[at - 1];
    const event = { kind: 'divider', text, time, id: 0 };
    if (last && last.event.kind === 'divider') last.event = event;
    else this.items.splice(at, 0, { event, local: true });
  }

  remove(item) {
    const i = this.items.indexOf(item);
    if (i >= 0) this.items.splice(i, 1);
  }

  // Past MAX_ITEMS the oldest go; returns them (the page removes what it showed of them).
  trim() {
    const excess = this.items.length - MAX_ITEMS;
    if (excess <= 0) return [];
    const gone = this.items.splice(0, excess);
    for (const { event } of gone) {
      if (event.id) this.ids.delete(event.id);
    }
    if (this.isRoom) this.more = true;
    return gone;
  }
}

// The conversation a direct message belongs to, seen from `me` (or the nicks this tab had).
export function dmKey(event, mine) {
  if (event.with) return `@${event.with}`;
  return `@${mine(event.nick) ? event.to : event.nick}`;
}

// Requests that carry text, kept until acked: resent after a reconnect, settled by the ack
// or the error naming their id.
export class Outbox {
  constructor(makeId) {
    this.makeId = makeId;
    this.entries = new Map(); // id -> { key, payload, item }
  }

  add(key, payload, item) {
    const id = this.makeId();
    payload.id = id;
    this.entries.set(id, { key, payload, item });
    return payload;
  }

  payloads() { return [...this.entries.values()].map((e) => e.payload); }

  // The entry an ack or error names, removed from the outbox (undefined if not ours).
  take(id) {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    return entry;
  }

  get size() { return this.entries.size; }
}

// What an ack means for the item that waited for it: 'keep' (now with the server's event),
// 'drop' (the conversation has that event already: a resend the server had handled).
export function settleAck(conv, item, ack) {
  item.state = undefined;
  item.error = undefined;
  if (ack.event) {
    if (ack.event.id && conv.ids.has(ack.event.id)) return 'drop';
    item.event = ack.event;
    if (ack.event.id) conv.ids.add(ack.event.id);
    return 'keep';
  }
  if (ack.duplicate && ack.event_id) {
    if (conv.ids.has(ack.event_id)) return 'drop';
    item.event = { ...item.event, id: ack.event_id };
    conv.ids.add(ack.event_id);
  }
  return 'keep';
}

// Text typed into the composer: what to send, or why not (the text then stays in the box).
export const MAX_LINES = 50;
export const MAX_BYTES = 8192;

export function checkTyped(text) {
  const lines = text.replace(/\r\n?/g, '\n').replace(/^\s*\n|\n\s*$/g, '').split('\n');
  if (!text.trim()) return { error: '' };
  if (lines.length > MAX_LINES) return { error: `At most ${MAX_LINES} lines in one message (this has ${lines.length}).` };
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > MAX_BYTES) return { error: `At most ${MAX_BYTES} bytes in one message (this has ${bytes}).` };
  const first = text.trimStart();
  const command = lines.length === 1 && first.startsWith('/') && !first.startsWith('//');
  return { text, command };
}
