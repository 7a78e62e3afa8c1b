// The chat page's layout: on a phone the rooms and the members are drawers over the
// conversation; on a desktop they are columns (the members one can be folded away). And the
// composer: Enter sends, Shift+Enter starts a new line, the box grows with its text.

import { $ } from './common.js';
const PHONE = window.matchMedia('(max-width: 800px)');
const MAX_COMPOSER_PX = 160;

export function setupDrawers() {
  const main = $('chat-main');
  const backdrop = $('drawer-backdrop');
  const drawers = {
    rooms: { panel: $('rooms-panel'), toggle: $('rooms-toggle') },
    members: { panel: $('members-panel'), toggle: $('members-toggle') },
  };
  let openOne = null;

  function close(returnFocus = true) {
    if (!openOne) return;
    const { panel, toggle } = drawers[openOne];
    panel.classList.remove('open');
    toggle.setAttribute('aria-expanded', 'false');
    backdrop.hidden = true;
    openOne = null;
    if (returnFocus) toggle.focus();
  }

  function open(name) {
    close(false);
    const { panel, toggle } = drawers[name];
    panel.classList.add('open');
    toggle.setAttribute('aria-expanded', 'true');
    backdrop.hidden = false;
    openOne = name;
    const first = panel.querySelector('button:not([hidden]):not(:disabled), input');
    if (first) first.focus();
  }

  function membersShown() {
    return !main.classList.contains('members-folded');
  }

  function sync() {
    close(false);
    drawers.rooms.toggle.setAttribute('aria-expanded', 'false');
    drawers.members.toggle.setAttribute('aria-expanded', String(!PHONE.matches && membersShown()));
  }

  drawers.rooms.toggle.addEventListener('click', () => (openOne === 'rooms' ? close() : open('rooms')));
  drawers.members.toggle.addEventListener('click', () => {
    if (PHONE.matches) {
      if (openOne === 'members') close(); else open('members');
    } else {
      main.classList.toggle('members-folded');
      sync();
    }
  });
  for (const button of document.querySelectorAll('[data-close-drawer]')) button.addEventListener('click', () => close());
  backdrop.addEventListener('click', () => close());
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && openOne) close(); });
  PHONE.addEventListener('change', sync);
  sync();
  return { close: () => close(false) };
}

export function setupComposer(textarea, submit) {
  function grow() {
    if (!textarea.value) { textarea.style.height = ''; return; } // the placeholder must not size it
    textarea.style.height = 'auto';
    textarea.style.height = `${Math.min(textarea.scrollHeight + 2, MAX_COMPOSER_PX)}px`;
  }
  textarea.addEventListener('keydown', (e) => {
    // isComposing: Enter picks a candidate in a Chinese (or any) input method; it must not send
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });
  textarea.addEventListener('input', grow);
  return { grow };
}
