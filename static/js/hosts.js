// The address the pages' commands use. Bound to one address, sockdash shows that one alone; bound
// to 0.0.0.0 or ::, every LAN address answers, the page lists them all (data-hosts, the default
// first) and a picker chooses; the choice is remembered for Home and Files alike.
import { loadText, saveText } from './common.js';

const KEY = 'sockdash.host';

export function hostsOf(el) {
  return (el.dataset.hosts || '').split(' ').filter(Boolean);
}

export function chosenHost(hosts) {
  const saved = loadText(KEY); // null when storage is refused: the default
  return hosts.includes(saved) ? saved : hosts[0];
}

// Wire a <select id="host-pick"> (there is one only when there is a choice).
export function wireHostPicker(hosts, onChange) {
  const select = document.getElementById('host-pick');
  if (!select) return;
  select.value = chosenHost(hosts);
  select.addEventListener('change', () => {
    saveText(KEY, select.value); // refused: the choice lasts this page only
    onChange(select.value);
  });
}
