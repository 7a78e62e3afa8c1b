// The auto-response rules on the Tools page: one form for the chat services and the
// tool servers (TCP server, UDP), rules written one a line as MATCH [PATTERN] => REPLY.
import { $ } from './common.js';
const serviceRules = {};
const sessionRules = {};

function rulesToText(rules) {
  return rules.map((r) => (r.match === 'any' ? `any => ${r.reply}` : `${r.match} ${r.pattern} => ${r.reply}`)).join('\n');
}

function textToRules(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
    const cut = line.indexOf('=>');
    if (cut < 0) throw new Error(`"${line}": write MATCH [PATTERN] => REPLY`);
    const head = line.slice(0, cut).trim();
    const reply = line.slice(cut + 2).trim();
    const space = head.indexOf(' ');
    const match = space < 0 ? head : head.slice(0, space);
    const pattern = space < 0 ? '' : head.slice(space + 1).trim();
    return { match, pattern, reply };
  });
}

function showRules() {
  const target = $('autoreply-target').value;
  const rules = serviceRules[target] ?? sessionRules[target] ?? [];
  $('autoreply-rules').value = rulesToText(rules);
}

export function rememberSessionRules(s) {
  if (s.kind !== 'tcp-server' && s.kind !== 'udp') return;
  sessionRules[String(s.id)] = s.rules;
  const select = $('autoreply-target');
  let option = [...select.options].find((o) => o.value === String(s.id));
  if (!option && s.open) {
    option = new Option(s.label, String(s.id));
    select.append(option);
  }
  if (option && !s.open) option.remove();
}

export function forgetSessionTargets() {
  for (const key of Object.keys(sessionRules)) delete sessionRules[key];
  for (const option of [...$('autoreply-target').options]) if (/^\d+$/.test(option.value)) option.remove();
}

// `request(message)` sends with the form's ref; `showError(text)` writes next to the form.
export function setupAutoreply(request, showError) {
  const status = $('autoreply-status');
  $('autoreply-target').addEventListener('change', () => {
    status.textContent = ''; // "saved" was about the rules of the target shown before
    showError('');
    showRules();
  });
  $('autoreply-form').addEventListener('submit', (e) => {
    e.preventDefault();
    status.textContent = '';
    let rules;
    try {
      rules = textToRules($('autoreply-rules').value);
    } catch (err) {
      showError(err.message);
      return;
    }
    request({ type: 'autoreply', target: $('autoreply-target').value, rules });
  });
}

// The rules of the chat services (on connect) or the answer to this page's save.
export function onAutoreply(m) {
  Object.assign(serviceRules, m.services);
  if (m.saved === undefined) {
    showRules();
  } else if (m.saved === $('autoreply-target').value) {
    $('autoreply-status').textContent = 'saved'; // the box holds what was saved: leave it
  }
}
