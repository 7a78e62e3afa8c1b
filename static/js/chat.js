import { liveSocket } from './live.js';

const list = document.getElementById('messages');
const empty = document.getElementById('no-messages');
const MAX_SHOWN = 500;

function add(m) {
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.textContent = new Date(m.time * 1000).toLocaleTimeString();
  const badge = document.createElement('span');
  badge.className = `badge ${m.transport}`;
  badge.textContent = m.transport;
  const nick = document.createElement('strong');
  nick.textContent = m.nick;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = m.text; // network text is always text, never HTML
  li.append(time, ' ', badge, ' ', nick, ' #', m.room, ': ', text);
  list.append(li);
  while (list.children.length > MAX_SHOWN) list.firstElementChild.remove();
  empty.hidden = true;
  li.scrollIntoView({ block: 'end' });
}

liveSocket('/ws/chat', (message) => {
  if (message.type === 'chat') message.messages.forEach(add);
});
