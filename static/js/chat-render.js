// How chat items look. Network text only ever reaches the page through textContent; links
// are built as <a>. Colours come from classes (the page's CSP allows no style attribute).

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;
export const NICK_COLOURS = 10;

import { el } from './common.js';

export function linkified(text) {
  const span = el('span', 'text');
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    span.append(text.slice(last, match.index));
    const a = el('a', '', match[0]);
    a.href = match[0];
    a.rel = 'noopener noreferrer';
    a.target = '_blank';
    span.append(a);
    last = match.index + match[0].length;
  }
  span.append(text.slice(last));
  return span;
}

// The same nick has the same colour on every page and after every reload (FNV-1a of the
// lower-cased nick: nicks are unique case-insensitively).
export function nickColour(nick) {
  let hash = 0x811c9dc5;
  for (const ch of nick.toLowerCase()) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % NICK_COLOURS;
}

export function badge(transport) {
  return el('span', `badge ${transport}`, transport);
}

export function nickEl(nick) {
  return el('span', `nick nc-${nickColour(nick)}`, nick);
}

// 24-hour HH:MM, as chat clients show it: it fits its column in every locale
export function clock(d) {
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

function stamp(seconds) {
  const t = el('time');
  const d = new Date(seconds * 1000);
  t.dateTime = d.toISOString();
  t.textContent = clock(d);
  t.title = d.toLocaleString();
  return t;
}

export function dayOf(seconds) {
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function dayLabel(seconds, now = Date.now() / 1000) {
  if (dayOf(seconds) === dayOf(now)) return 'Today';
  if (dayOf(seconds) === dayOf(now - 86400)) return 'Yesterday';
  return new Date(seconds * 1000).toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

export function dayDivider(seconds) {
  const li = el('li', 'divider day');
  li.append(el('span', '', dayLabel(seconds)));
  return li;
}

const NOTICES = {
  join: (e) => `${e.nick} (${e.transport}) joined`,
  leave: (e) => `${e.nick} (${e.transport}) left`,
  nick: (e) => `${e.nick} is now known as ${e.to}`,
  clear: () => 'the history of this room was cleared by the admin',
};

// One item: { event, state?: 'pending' | 'failed', error? }; `mine(nick)` says whether a nick
// is (or was) this tab's.
export function renderItem(item, mine) {
  const e = item.event;
  let li;
  if (e.kind === 'message' || e.kind === 'dm' || e.kind === 'action') {
    li = el('li', e.kind === 'message' ? 'message' : `message ${e.kind}`);
    // an action reads as a sentence: "* alice waves", the nick in the text's column
    const from = el('span', 'from');
    const who = e.kind === 'action' ? el('span') : from;
    from.append(badge(e.transport), ' ');
    if (e.kind === 'action') from.append('*');
    who.append(nickEl(e.nick));
    from.title = e.nick;
    if (mine(e.nick)) {
      li.classList.add('own');
      who.append(el('span', 'sr-only', ' (you)'));
    }
    const text = linkified(e.text);
    if (e.kind === 'action') text.prepend(who, ' ');
    li.append(stamp(e.time), from, ' ', text);
  } else if (e.kind === 'divider') {
    li = el('li', 'divider reconnected');
    li.append(el('span', '', `${e.text} ${clock(new Date(e.time * 1000))}`));
  } else if (e.kind === 'command') {
    li = el('li', 'notice command');
    li.append(stamp(e.time), ' ', el('span', 'text', e.text));
  } else {
    li = el('li', e.error ? 'notice error' : 'notice');
    if (e.kind in NOTICES) li.classList.add('presence');
    li.append(stamp(e.time), ' ', el('span', 'text', NOTICES[e.kind] ? NOTICES[e.kind](e) : e.text));
  }
  if (item.state) li.dataset.state = item.state;
  if (item.state === 'pending') li.append(el('span', 'state', 'sending…'));
  if (item.state === 'failed') li.append(el('span', 'state', `not sent: ${item.error}`));
  item.el = li;
  return li;
}

// Every item of a conversation, a day line wherever the date changes.
export function renderItems(items, mine) {
  const nodes = [];
  let day = null;
  for (const item of items) {
    const t = item.event.time;
    if (t && dayOf(t) !== day) {
      day = dayOf(t);
      nodes.push(dayDivider(t));
    }
    nodes.push(renderItem(item, mine));
  }
  return nodes;
}

// The day of the last item rendered into `list`, to tell whether a new one needs a day line.
export function lastDay(items, before) {
  for (let i = before - 1; i >= 0; i -= 1) {
    if (items[i].event.time) return dayOf(items[i].event.time);
  }
  return null;
}
