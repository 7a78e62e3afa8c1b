// The web chat. Conversations are rooms ("#lobby") and direct messages ("@nick").
// Network text only ever reaches the page through textContent; links are built as <a>.
import { liveSocket } from './live.js';

const $ = (id) => document.getElementById(id);
const NICK_KEY = 'sockdash.nick';
const ROOMS_KEY = 'sockdash.rooms';
const CLIENT_KEY = 'sockdash.secret'; // issued by the server in welcome: takes this tab's nick back after a drop
const TAB_KEY = 'sockdash.tab'; // public: makes this tab's message ids unique across reloads
const MAX_ITEMS = 1000;
const baseTitle = document.title;
const PAGE_LOAD = Math.random().toString(36).slice(2, 10);

function tabId() {
  let id = sessionStorage.getItem(TAB_KEY);
  if (!id) {
    id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    sessionStorage.setItem(TAB_KEY, id);
  }
  return id;
}

const state = {
  nick: localStorage.getItem(NICK_KEY) || '',
  joined: JSON.parse(localStorage.getItem(ROOMS_KEY) || '["lobby"]'),
  current: '#lobby',
  convs: new Map(), // key -> { items: [], unread: 0 }
  members: new Map(), // room -> [{nick, transport}]
  rooms: {},
  outbox: new Map(), // id -> { key, payload, item }
  welcomed: false,
  nextId: 1,
};

function conv(key) {
  if (!state.convs.has(key)) state.convs.set(key, { items: [], unread: 0 });
  return state.convs.get(key);
}

function saveRooms() {
  localStorage.setItem(ROOMS_KEY, JSON.stringify(state.joined));
}

// ---- rendering ---------------------------------------------------------------------------
const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;

function linkified(text) {
  const span = document.createElement('span');
  span.className = 'text';
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    span.append(text.slice(last, match.index));
    const a = document.createElement('a');
    a.href = match[0];
    a.textContent = match[0];
    a.rel = 'noopener noreferrer';
    a.target = '_blank';
    span.append(a);
    last = match.index + match[0].length;
  }
  span.append(text.slice(last));
  return span;
}

function badge(transport) {
  const b = document.createElement('span');
  b.className = `badge ${transport}`;
  b.textContent = transport;
  return b;
}

function stamp(seconds) {
  const t = document.createElement('time');
  const d = new Date(seconds * 1000);
  t.dateTime = d.toISOString();
  t.textContent = d.toLocaleTimeString();
  return t;
}

function renderItem(item) {
  const li = document.createElement('li');
  const e = item.event;
  li.className = e.kind === 'message' ? 'message' : e.kind;
  if (item.state) li.dataset.state = item.state;
  const who = document.createElement('strong');
  who.className = 'nick';
  who.textContent = e.nick;
  if (e.kind === 'message' || e.kind === 'dm') {
    li.append(stamp(e.time), ' ', badge(e.transport), ' ', who, ': ', linkified(e.text));
    if (e.kind === 'dm' && e.nick === state.nick) li.firstChild.after(` → ${e.to}`);
  } else if (e.kind === 'action') {
    li.append(stamp(e.time), ' ', badge(e.transport), ' * ', who, ' ', linkified(e.text));
  } else {
    const text = { join: `${e.nick} (${e.transport}) joined`, leave: `${e.nick} (${e.transport}) left`,
      nick: `${e.nick} is now known as ${e.to}`, clear: 'the history of this room was cleared by the admin',
      lost: e.text }[e.kind];
    li.append(stamp(e.time), ` ${text}`);
  }
  if (item.state === 'pending') li.append(Object.assign(document.createElement('span'), { className: 'state', textContent: 'sending…' }));
  if (item.state === 'failed') li.append(Object.assign(document.createElement('span'), { className: 'state', textContent: `not sent: ${item.error}` }));
  item.el = li;
  return li;
}

const list = $('messages');
let following = true;
list.addEventListener('scroll', () => {
  following = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
  if (following) $('jump').hidden = true;
});
$('jump').addEventListener('click', () => { list.scrollTop = list.scrollHeight; });

function renderConversation() {
  const c = conv(state.current);
  c.unread = 0;
  list.replaceChildren(...c.items.map(renderItem));
  list.scrollTop = list.scrollHeight;
  following = true;
  $('conv-title').textContent = state.current.startsWith('#') ? state.current : `private: ${state.current.slice(1)}`;
  $('leave-room').hidden = !state.current.startsWith('#');
  const clear = $('clear-room');
  if (clear) clear.hidden = !state.current.startsWith('#');
  renderSidebar();
  renderMembers();
}

function addItem(key, item) {
  const c = conv(key);
  c.items.push(item);
  if (c.items.length > MAX_ITEMS) c.items.splice(0, c.items.length - MAX_ITEMS);
  if (key === state.current) {
    list.append(renderItem(item));
    while (list.children.length > MAX_ITEMS) list.firstElementChild.remove();
    if (following) list.scrollTop = list.scrollHeight;
    else $('jump').hidden = false;
    if (document.hidden && item.event.kind !== 'join' && item.event.kind !== 'leave') c.unread += 1;
  } else if (['message', 'action', 'dm'].includes(item.event.kind)) {
    c.unread += 1;
  }
  renderSidebar();
}

function roomButton(key, label, extra) {
  const li = document.createElement('li');
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  if (key === state.current) b.setAttribute('aria-current', 'true');
  const unread = conv(key).unread;
  if (extra) b.append(' ', Object.assign(document.createElement('span'), { className: 'count', textContent: extra }));
  if (unread) b.append(Object.assign(document.createElement('span'), { className: 'unread', textContent: String(unread) }));
  b.setAttribute('aria-label', `${label}${unread ? `, ${unread} unread` : ''}`);
  b.addEventListener('click', () => open(key));
  li.append(b);
  return li;
}

function renderSidebar() {
  const roomItems = [];
  for (const room of state.joined) roomItems.push(roomButton(`#${room}`, `#${room}`, `(${state.rooms[room] ?? 0})`));
  for (const [room, count] of Object.entries(state.rooms)) {
    if (!state.joined.includes(room)) roomItems.push(roomButton(`#${room}`, `#${room}`, `(${count}) join`));
  }
  $('room-list').replaceChildren(...roomItems);
  const dms = [...state.convs.keys()].filter((k) => k.startsWith('@'));
  $('dm-list').replaceChildren(...dms.map((k) => roomButton(k, k.slice(1))));
  let total = 0;
  for (const c of state.convs.values()) total += c.unread;
  document.title = total ? `(${total}) ${baseTitle}` : baseTitle;
}

function renderMembers() {
  const room = state.current.startsWith('#') ? state.current.slice(1) : null;
  const members = room ? state.members.get(room) || [] : [];
  $('member-list').replaceChildren(...members.map((m) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.append(badge(m.transport), ' ', m.nick);
    b.setAttribute('aria-label', m.nick === state.nick ? `${m.nick} (you)` : `Message ${m.nick} privately`);
    b.disabled = m.nick === state.nick;
    b.addEventListener('click', () => open(`@${m.nick}`));
    li.append(b);
    return li;
  }));
}

function open(key) {
  if (key.startsWith('#') && !state.joined.includes(key.slice(1))) {
    socket.send({ type: 'join', room: key.slice(1) });
  }
  state.current = key;
  renderConversation();
  $('text').focus();
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) { conv(state.current).unread = 0; renderSidebar(); }
});

// ---- sending: every message is acked, or marked as not sent ---------------------------------
function send(text) {
  const key = state.current;
  const id = `${tabId()}:${PAGE_LOAD}:${state.nextId++}`; // unique across reloads of this tab
  const action = key.startsWith('#') && text.startsWith('/me ');
  const payload = key.startsWith('#')
    ? { type: 'send', id, room: key.slice(1), text: action ? text.slice(4) : text, action }
    : { type: 'dm', id, to: key.slice(1), text };
  const event = { kind: action ? 'action' : (key.startsWith('@') ? 'dm' : 'message'), room: key.slice(1), nick: state.nick,
    transport: 'web', text: payload.text, time: Date.now() / 1000, to: key.startsWith('@') ? key.slice(1) : '' };
  const item = { event, state: 'pending' };
  addItem(key, item);
  state.outbox.set(id, { key, payload, item });
  if (state.welcomed) socket.send(payload);
  else $('composer-note').textContent = 'Offline: your message will be sent when the connection is back.';
}

function settle(id, event, error) {
  const entry = state.outbox.get(id);
  if (!entry) return;
  state.outbox.delete(id);
  if (event) entry.item.event = event;
  entry.item.state = error ? 'failed' : undefined;
  entry.item.error = error;
  if (entry.item.el && entry.item.el.isConnected) entry.item.el.replaceWith(renderItem(entry.item));
}

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (!text.trim()) return;
  $('text').value = '';
  send(text);
});

// ---- the connection ----------------------------------------------------------------------
function onEvent(e) {
  if (e.kind === 'dm') addItem(`@${e.nick}`, { event: e });
  else if (e.kind === 'nick') {
    for (const room of state.joined) addItem(`#${room}`, { event: e });
  } else {
    if (e.kind === 'clear') conv(`#${e.room}`).items = [];
    addItem(`#${e.room}`, { event: e });
  }
}

function onMessage(m) {
  if (m.type === 'welcome') {
    state.welcomed = true;
    if (m.client) sessionStorage.setItem(CLIENT_KEY, m.client);
    state.nick = m.nick;
    localStorage.setItem(NICK_KEY, m.nick);
    state.joined = m.joined;
    state.rooms = m.rooms;
    saveRooms();
    $('me').textContent = `you are ${m.nick}`;
    $('nick-form').hidden = true;
    $('chat-main').hidden = false;
    $('composer-note').textContent = '';
    for (const { payload } of state.outbox.values()) socket.send(payload); // resend what was not acked
    renderConversation();
  } else if (m.type === 'history') {
    const pending = conv(`#${m.room}`).items.filter((i) => i.state);
    conv(`#${m.room}`).items = [...m.events.map((event) => ({ event })), ...pending];
    if (!state.joined.includes(m.room)) { state.joined.push(m.room); saveRooms(); }
    if (state.current === `#${m.room}`) renderConversation();
  } else if (m.type === 'members') {
    state.members.set(m.room, m.members);
    renderMembers();
  } else if (m.type === 'rooms') {
    state.rooms = m.rooms;
    renderSidebar();
  } else if (m.type === 'events') {
    m.events.forEach(onEvent);
  } else if (m.type === 'ack') {
    settle(m.id, m.event, null);
  } else if (m.type === 'nick') {
    state.nick = m.nick;
    localStorage.setItem(NICK_KEY, m.nick);
    $('me').textContent = `you are ${m.nick}`;
  } else if (m.type === 'lost') {
    const text = `${m.count} events were missed: this browser fell behind`;
    addItem(state.current, { event: { kind: 'lost', room: '', nick: '', transport: '', text, time: Date.now() / 1000 } });
  } else if (m.type === 'error') {
    if (m.request === 'hello') {
      state.welcomed = false;
      $('nick-error').textContent = m.text;
      $('nick-form').hidden = false;
      $('chat-main').hidden = true;
    } else if (m.id) {
      settle(m.id, null, m.text);
    } else {
      $('composer-note').textContent = m.text;
    }
  }
}

function hello() {
  if (state.nick) socket.send({ type: 'hello', nick: state.nick, rooms: state.joined, client: sessionStorage.getItem(CLIENT_KEY) || '' });
}

const socket = liveSocket('/ws/chat', onMessage, { onOpen: hello });

const stateEl = document.getElementById('live-state');
new MutationObserver(() => {
  if (stateEl.dataset.state !== 'live') {
    state.welcomed = false;
    if (!$('chat-main').hidden) $('composer-note').textContent = 'Connection lost — reconnecting; messages you type will be sent then.';
  }
}).observe(stateEl, { attributes: true, attributeFilter: ['data-state'] });

$('nick-input').value = state.nick;
$('nick-form').addEventListener('submit', (e) => {
  e.preventDefault();
  state.nick = $('nick-input').value.trim();
  $('nick-error').textContent = '';
  hello();
});
$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const room = $('join-input').value.trim().replace(/^#/, '').toLowerCase();
  if (!room) return;
  $('join-input').value = '';
  open(`#${room}`);
});
$('leave-room').addEventListener('click', () => {
  const room = state.current.slice(1);
  socket.send({ type: 'leave', room });
  state.joined = state.joined.filter((r) => r !== room);
  saveRooms();
  state.convs.delete(state.current);
  state.current = `#${state.joined[0] || 'lobby'}`;
  if (!state.joined.length) open('#lobby'); else renderConversation();
});
const clearButton = $('clear-room');
if (clearButton) {
  clearButton.addEventListener('click', async () => {
    const room = state.current.slice(1);
    if (!confirm(`Delete the stored history of #${room}?`)) return;
    const r = await fetch(`/api/chat/rooms/${encodeURIComponent(room)}/clear`, { method: 'POST' });
    if (!r.ok) $('composer-note').textContent = `Could not clear: ${r.status}`;
  });
}
