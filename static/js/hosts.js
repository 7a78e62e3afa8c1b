// The address the pages' commands use. Bound to one address, sockdash shows that one alone; bound
// to 0.0.0.0 or ::, every LAN address answers, the page lists them all (data-hosts, the default
// first) and a picker chooses; the choice is remembered for Home and Files alike.
const KEY = 'sockdash.host';

export function hostsOf(el) {
  return (el.dataset.hosts || '').split(' ').filter(Boolean);
}

export function chosenHost(hosts) {
  let saved = null;
  try { saved = localStorage.getItem(KEY); } catch { /* storage refused: use the default */ }
  return hosts.includes(saved) ? saved : hosts[0];
}

// Wire a <select id="host-pick"> (there is one only when there is a choice).
export function wireHostPicker(hosts, onChange) {
  const select = document.getElementById('host-pick');
  if (!select) return;
  select.value = chosenHost(hosts);
  select.addEventListener('change', () => {
    try { localStorage.setItem(KEY, select.value); } catch { /* the choice lasts this page only */ }
    onChange(select.value);
  });
}
