// The web chat. Conversations are rooms ("#lobby") and direct messages ("@nick"); the
// protocol is in docs/websocket.md. What the page keeps is in chat-model.js, how an item
// looks in chat-render.js, the drawers and the composer in chat-layout.js.
import { liveSocket } from './live.js';
import { $, el, loadPref, loadText, savePref, saveText } from './common.js';
import { Conversation, Outbox, checkTyped, dmKey, isRoomList, settleAck } from './chat-model.js';
import { badge, dayDivider, dayOf, lastDay, nickEl, renderItem, renderItems } from './chat-render.js';
import { setupComposer, setupDrawers } from './chat-layout.js';

const NICK_KEY = 'sockdash.nick';
const ROOMS_KEY = 'sockdash.rooms';
const CLIENT_KEY = 'sockdash.secret'; // issued by the server in welcome: takes this tab's nick back after a drop
const TAB_KEY = 'sockdash.tab'; // public: makes this tab's message ids unique across reloads
const CURRENT_KEY = 'sockdash.current'; // the conversation this tab shows: a reload comes back to it
const baseTitle = document.title;
const PAGE_LOAD = Math.random().toString(36).slice(2, 10);
const now = () => Date.now() / 1000;

function tabId() {
  let id = loadText(TAB_KEY, 'session');
  if (!id) {
    id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    saveText(TAB_KEY, id, 'session');
  }
  return id;
}

let nextId = 1;
const state = {
  nick: loadText(NICK_KEY) || '',
  nicks: new Set(), // every nick this tab had: its messages are marked as its own
  joined: loadPref(ROOMS_KEY, ['lobby'], isRoomList),
  current: /^[#@]\S{1,32}$/.test(loadText(CURRENT_KEY, 'session') || '') ? loadText(CURRENT_KEY, 'session') : '#lobby',
  convs: new Map(),
  members: new Map(), // room -> [{nick, transport}]
  rooms: {},
  welcomed: false,
  everWelcomed: false,
};
const outbox = new Outbox(() => `${tabId()}:${PAGE_LOAD}:${nextId++}`); // unique across reloads of this tab
const mine = (nick) => nick === state.nick || state.nicks.has(nick);

function conv(key) {
  if (!state.convs.has(key)) {
    const c = new Conversation(key);
    if (!c.isRoom) c.loaded = true; // direct messages have no first history: every replay merges
    state.convs.set(key, c);
  }
  return state.convs.get(key);
}

function saveRooms() {
  savePref(ROOMS_KEY, state.joined);
}

function note(text) {
  $('composer-note').textContent = text;
}

// ---- the conversation on screen ------------------------------------------------------------
const list = $('messages');
let following = true;
list.addEventListener('scroll', () => {
  following = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
  if (following) $('jump').hidden = true;
});
$('jump').addEventListener('click', () => { list.scrollTop = list.scrollHeight; });

function loadOlderItem() {
  const li = el('li', 'load-older');
  const button = el('button', '', 'Load older messages');
  button.type = 'button';
  button.addEventListener('click', () => {
    const c = conv(state.current);
    button.disabled = true;
    button.textContent = 'Loading…';
    socket.send({ type: 'history', room: c.key.slice(1), before: c.oldestId() });
  });
  li.append(button);
  return li;
}

function renderConversation({ keepScroll = false } = {}) {
  const c = conv(state.current);
  if (!document.hidden) c.unread = 0;
  const fromBottom = list.scrollHeight - list.scrollTop;
  const nodes = renderItems(c.items, mine);
  if (c.isRoom && c.more) nodes.unshift(loadOlderItem());
  list.replaceChildren(...nodes);
  if (keepScroll) list.scrollTop = list.scrollHeight - fromBottom;
  else { list.scrollTop = list.scrollHeight; following = true; $('jump').hidden = true; }
  const room = c.isRoom ? c.key : null;
  $('conv-title').textContent = room || `private: ${c.key.slice(1)}`;
  $('leave-room').hidden = !room;
  const clear = $('clear-room');
  if (clear) clear.hidden = !room;
  $('text').placeholder = room ? `Message ${room}` : `Message ${c.key.slice(1)} privately`;
  renderSidebar();
  renderMembers();
}

// An item into a conversation; `live`: it just happened (it may count as unread).
function show(key, item, live = false) {
  const c = conv(key);
  if (!c.add(item)) return;
  if (key === state.current) {
    const at = c.items.indexOf(item);
    if (at !== c.items.length - 1) {
      renderConversation({ keepScroll: !following });
    } else {
      if (item.event.time && dayOf(item.event.time) !== lastDay(c.items, at)) list.append(dayDivider(item.event.time));
      list.append(renderItem(item, mine));
      if (c.trimmed.length) dropShown(c);
    }
    if (following) list.scrollTop = list.scrollHeight;
    else $('jump').hidden = false;
    if (live && document.hidden && countable(item)) c.unread += 1;
  } else if (live && countable(item)) {
    c.unread += 1;
  }
  renderSidebar();
}

// A busy conversation at its bound: what left it leaves the list, without drawing it all again.
function dropShown(c) {
  for (const gone of c.trimmed) if (gone.el) gone.el.remove();
  const first = list.querySelector('li:not(.load-older)');
  if (first && first.matches('.divider.day') && first.nextElementSibling?.matches('.divider.day')) first.remove();
  if (c.more && !list.querySelector('.load-older')) list.prepend(loadOlderItem());
}

// An item drawn again in place (its ack came), or taken away.
function redraw(key, item) {
  if (key !== state.current || !item.el || !item.el.isConnected) return renderSidebar();
  return item.el.replaceWith(renderItem(item, mine));
}

function countable(item) {
  return ['message', 'action', 'dm'].includes(item.event.kind) && !mine(item.event.nick);
}

function refresh(key, options) {
  if (key === state.current) renderConversation(options);
  else renderSidebar();
}

// ---- the side panels -------------------------------------------------------------------------
function convButton(key, label, aria) {
  const li = el('li');
  const b = el('button');
  b.type = 'button';
  const unread = state.convs.has(key) ? conv(key).unread : 0;
  b.append(el('span', 'label', label));
  if (unread) b.append(el('span', 'unread', String(unread)));
  if (key === state.current) b.setAttribute('aria-current', 'true');
  b.setAttribute('aria-label', aria || `${label}${unread ? `, ${unread} unread` : ''}`);
  b.addEventListener('click', () => open(key));
  li.append(b);
  return li;
}

function people(count) {
  return `${count} ${count === 1 ? 'person' : 'people'}`;
}

function renderSidebar() {
  $('room-list').replaceChildren(...state.joined.map((room) => convButton(`#${room}`, `#${room}`)));
  const others = Object.entries(state.rooms).filter(([room]) => !state.joined.includes(room));
  $('other-rooms').replaceChildren(...others.map(([room, count]) => {
    const li = convButton(`#${room}`, `#${room}`, `Join #${room}, ${people(count)}`);
    li.firstChild.append(el('span', 'people', people(count)));
    return li;
  }));
  $('other-rooms-box').hidden = others.length === 0;
  const dms = [...state.convs.keys()].filter((k) => k.startsWith('@'));
  $('dm-list').replaceChildren(...dms.map((k) => convButton(k, k.slice(1))));
  $('dm-hint').hidden = dms.length > 0;
  let total = 0;
  let elsewhere = 0;
  for (const c of state.convs.values()) {
    total += c.unread;
    if (c.key !== state.current) elsewhere += c.unread;
  }
  document.title = total ? `(${total}) ${baseTitle}` : baseTitle;
  const badgeEl = $('rooms-unread');
  badgeEl.textContent = elsewhere ? String(elsewhere) : '';
  badgeEl.hidden = !elsewhere;
  $('rooms-toggle').setAttribute('aria-label', `Rooms and private conversations${elsewhere ? `, ${elsewhere} unread` : ''}`);
}

function renderMembers() {
  const room = state.current.startsWith('#') ? state.current.slice(1) : null;
  const members = room ? state.members.get(room) || [] : [];
  $('member-list').replaceChildren(...members.map((m) => {
    const li = el('li');
    const b = el('button');
    b.type = 'button';
    b.append(badge(m.transport), ' ', nickEl(m.nick));
    if (m.nick === state.nick) b.append(el('span', 'you', '(you)'));
    b.setAttribute('aria-label', m.nick === state.nick ? `${m.nick} (you)` : `Message ${m.nick} privately`);
    b.disabled = m.nick === state.nick;
    b.addEventListener('click', () => open(`@${m.nick}`));
    li.append(b);
    return li;
  }));
  const toggle = $('members-toggle');
  toggle.hidden = !room;
  $('member-count').textContent = `${members.length} ${members.length === 1 ? 'member' : 'members'}`;
  $('members-title').textContent = room ? `Members of #${room}` : 'Members';
}

function open(key) {
  if (key.startsWith('#') && !state.joined.includes(key.slice(1))) socket.send({ type: 'join', room: key.slice(1) });
  state.current = key;
  saveText(CURRENT_KEY, key, 'session');
  drawers.close();
  renderConversation();
  $('text').focus();
}

function forgetRoom(room) {
  state.joined = state.joined.filter((r) => r !== room);
  saveRooms();
  state.convs.delete(`#${room}`);
  state.members.delete(room);
  if (state.current === `#${room}`) {
    if (state.joined.length) open(`#${state.joined[0]}`); else open('#lobby');
  } else {
    renderSidebar();
  }
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) { conv(state.current).unread = 0; renderSidebar(); }
});

// ---- sending: every message is acked, or marked as not sent ---------------------------------
function send() {
  const box = $('text');
  const checked = checkTyped(box.value);
  if (checked.error !== undefined) { note(checked.error); return; } // the text stays in the box
  box.value = '';
  composer.grow();
  note(state.welcomed ? '' : 'Offline: what you typed will be sent when the connection is back.');
  const key = state.current;
  const room = key.startsWith('#') ? key.slice(1) : '';
  const { text } = checked;
  const shown = text.trimStart().startsWith('//') ? text.replace('/', '') : text;
  let payload;
  let event;
  if (checked.command) {
    payload = { type: 'send', room, text };
    event = { kind: 'command', text: text.trim(), time: now(), id: 0 };
  } else if (room) {
    payload = { type: 'send', room, text };
    event = { kind: 'message', room, nick: state.nick, transport: 'web', text: shown, time: now(), to: '', id: 0 };
  } else {
    payload = { type: 'dm', to: key.slice(1), text };
    event = { kind: 'dm', room: '', nick: state.nick, transport: 'web', text: shown, time: now(), to: key.slice(1), id: 0 };
  }
  const item = { event, state: 'pending' };
  outbox.add(key, payload, item);
  following = true; // what one sends is shown, wherever the list was scrolled
  show(key, item);
  if (state.welcomed) socket.send(payload);
}

function localNotice(key, text, error = false) {
  show(key, { event: { kind: 'notice', text, error, time: now(), id: 0 }, local: true });
}

function onAck(m) {
  const entry = outbox.take(m.id);
  if (!entry) return;
  const c = conv(entry.key);
  const { item } = entry;
  if (item.event.kind !== 'command') {
    if (settleAck(c, item, m) === 'drop') {
      c.remove(item);
      if (item.el) item.el.remove();
    } else {
      redraw(entry.key, item);
    }
    return;
  }
  c.remove(item);
  if (item.el) item.el.remove();
  for (const reply of m.replies || []) localNotice(entry.key, reply);
  if (m.duplicate) localNotice(entry.key, `${item.event.text}: done (sent again after a reconnect)`);
  if (m.event && m.event.kind === 'dm') show(dmKey(m.event, mine), { event: m.event });
  else if (m.event) show(`#${m.event.room}`, { event: m.event });
  if (m.left) forgetRoom(m.left);
  if (m.entered) open(`#${m.entered}`);
}

function onError(m) {
  const entry = m.id ? outbox.take(m.id) : null;
  if (entry) {
    const { item } = entry;
    if (item.event.kind === 'command') {
      conv(entry.key).remove(item);
      if (item.el) item.el.remove();
      const command = item.event.text.split(' ')[0];
      localNotice(entry.key, m.text.startsWith('unknown command') ? m.text : `${command}: ${m.text}`, true);
    } else {
      item.state = 'failed';
      item.error = m.text;
      redraw(entry.key, item);
    }
  } else if (m.request === 'hello') {
    state.welcomed = false;
    $('nick-error').textContent = m.text;
    $('nick-form').hidden = false;
    $('chat-main').hidden = true;
  } else if (m.request === 'nick') {
    $('rename-error').textContent = m.text;
  } else if (m.request === 'history') {
    note(m.text);
    refresh(state.current, { keepScroll: true });
  } else {
    note(m.text);
  }
}

// ---- the connection ----------------------------------------------------------------------
function onEvent(e) {
  if (e.kind === 'dm') {
    show(dmKey(e, mine), { event: e }, true);
  } else if (e.kind === 'nick') {
    renamed(e.nick, e.to);
    const rooms = state.joined.filter((r) => (state.members.get(r) || []).some((m) => m.nick === e.to));
    for (const room of rooms.length ? rooms : state.joined) show(`#${room}`, { event: e });
  } else {
    const c = conv(`#${e.room}`);
    if (e.kind === 'clear') { c.items = c.items.filter((i) => i.state); c.ids.clear(); c.more = false; }
    show(`#${e.room}`, { event: e }, true);
    if (e.kind === 'clear') refresh(`#${e.room}`);
  }
}

// Someone's new nick: their private conversation and the member lists follow.
function renamed(old, nick) {
  for (const members of state.members.values()) {
    for (const m of members) if (m.nick === old) m.nick = nick;
  }
  const key = `@${old}`;
  if (state.convs.has(key) && !state.convs.has(`@${nick}`)) {
    const c = state.convs.get(key);
    state.convs.delete(key);
    c.key = `@${nick}`;
    state.convs.set(c.key, c);
    if (state.current === key) state.current = c.key;
  }
  refresh(state.current, { keepScroll: true });
}

function setNick(nick) {
  state.nick = nick;
  state.nicks.add(nick);
  saveText(NICK_KEY, nick);
  $('me').textContent = `you are ${nick}`;
}

function onWelcome(m) {
  if (state.everWelcomed) {
    for (const c of state.convs.values()) c.divider('reconnected at', now());
  }
  state.everWelcomed = true;
  state.welcomed = true;
  if (m.client) saveText(CLIENT_KEY, m.client, 'session');
  setNick(m.nick);
  state.joined = m.joined;
  state.rooms = m.rooms;
  saveRooms();
  $('nick-form').hidden = true;
  $('chat-main').hidden = false;
  note('');
  for (const payload of outbox.payloads()) socket.send(payload); // resend what was not acked
  if (state.current.startsWith('#') && !state.joined.includes(state.current.slice(1))) state.current = `#${state.joined[0]}`;
  conv(state.current); // a private conversation shown before a reload: its messages follow in dms
  renderConversation();
}

function onHistory(m) {
  const key = `#${m.room}`;
  const c = conv(key);
  if (m.before !== undefined) {
    c.prepend(m.events, m.more);
    refresh(key, { keepScroll: true });
    return;
  }
  const first = !c.loaded;
  c.merge(m.events);
  if (first) c.more = m.more;
  if (!state.joined.includes(m.room)) { state.joined.push(m.room); saveRooms(); }
  refresh(key, { keepScroll: !first && !following });
}

function onDirectMessages(m) {
  const keys = new Set();
  for (const e of m.events) {
    const key = dmKey(e, mine);
    conv(key).merge([e]);
    keys.add(key);
  }
  if (keys.has(state.current)) renderConversation({ keepScroll: !following });
  else renderSidebar();
}

const handlers = {
  welcome: onWelcome,
  history: onHistory,
  dms: onDirectMessages,
  members: (m) => { state.members.set(m.room, m.members); renderMembers(); },
  rooms: (m) => { state.rooms = m.rooms; renderSidebar(); },
  events: (m) => m.events.forEach(onEvent),
  ack: onAck,
  error: onError,
  nick: (m) => { setNick(m.nick); closeRename(); refresh(state.current, { keepScroll: true }); },
  lost: (m) => {
    localNotice(state.current, `${m.count} events were missed: this browser fell behind; reloading the rooms`, true);
    for (const room of state.joined) socket.send({ type: 'history', room }); // fills the gaps, without doubles
  },
};

function hello() {
  if (state.nick) {
    socket.send({ type: 'hello', nick: state.nick, rooms: state.joined, client: loadText(CLIENT_KEY, 'session') || '' });
  }
}

// The connection as liveSocket reports it: down, it says when the next try is.
function onState(live, retryMs) {
  if (live === 'live') return;
  state.welcomed = false;
  if ($('chat-main').hidden) return;
  note(live === 'offline'
    ? `Connection lost — trying again in ${Math.round(retryMs / 100) / 10} s; messages you type will be sent then.`
    : 'Connection lost — reconnecting; messages you type will be sent then.');
}

const socket = liveSocket('/ws/chat', (m) => handlers[m.type]?.(m), { onOpen: hello, onState });
const drawers = setupDrawers();
const composer = setupComposer($('text'), send);

// ---- forms ---------------------------------------------------------------------------------
$('nick-input').value = state.nick;
$('nick-form').addEventListener('submit', (e) => {
  e.preventDefault();
  state.nick = $('nick-input').value.trim();
  $('nick-error').textContent = '';
  hello();
});
$('composer').addEventListener('submit', (e) => { e.preventDefault(); send(); });
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
  forgetRoom(room);
});

function closeRename() {
  const wasOpen = !$('rename-form').hidden;
  $('rename-form').hidden = true;
  $('who-am-i').hidden = false;
  $('rename-error').textContent = '';
  if (wasOpen) $('nick-change').focus();
}
$('nick-change').addEventListener('click', () => {
  $('rename-form').hidden = false;
  $('who-am-i').hidden = true;
  $('rename-input').value = state.nick;
  $('rename-input').select();
  $('rename-input').focus();
});
$('rename-cancel').addEventListener('click', closeRename);
$('rename-form').addEventListener('submit', (e) => {
  e.preventDefault();
  $('rename-error').textContent = '';
  socket.send({ type: 'nick', nick: $('rename-input').value.trim() });
});

const clearButton = $('clear-room');
if (clearButton) {
  clearButton.addEventListener('click', async () => {
    const room = state.current.slice(1);
    if (!confirm(`Delete the stored history of #${room}?`)) return;
    const r = await fetch(`/api/chat/rooms/${encodeURIComponent(room)}/clear`, { method: 'POST' });
    if (!r.ok) note(`Could not clear: ${r.status}`);
  });
}
