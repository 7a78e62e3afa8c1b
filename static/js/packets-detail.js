// The packet details pane (fields, layer by layer, as Wireshark's middle pane) and the bytes
// pane (hex and text side by side). Network text only reaches the page as textContent.
import { ENCODINGS, bytesOf, decode, hexLines, isHiddenPrivate, printable, tftpFields, arrow } from './packets-decode.js';
import { $, el, loadPref, savePref } from './common.js';
const PREFS_KEY = 'sockdash.packets';
const HEX_16_WIDTH = 460; // px of the bytes pane under which a hex line holds 8 bytes, not 16
const ENCODING_NAMES = { 'utf-8': 'UTF-8', gbk: 'GBK', latin1: 'Latin-1' };

// Page preferences survive a reload; whatever is stored (another version, a hand edit) must
// never stop the page: anything unreadable is the defaults.
export function readPrefs() {
  const stored = loadPref(PREFS_KEY, {});
  return {
    encoding: ENCODINGS.includes(stored.encoding) ? stored.encoding : 'auto',
    metric: stored.metric === 'bytes' ? 'bytes' : 'packets',
  };
}

export function savePrefs(changes) {
  savePref(PREFS_KEY, { ...readPrefs(), ...changes });
}

function layer(title, rows, open = true) {
  const details = el('details');
  details.open = open;
  const list = el('dl');
  for (const [name, value] of rows) list.append(el('dt', '', name), el('dd', '', value));
  details.append(el('summary', '', title), list);
  return details;
}

function closeReason(e) {
  if (e.direction === 'out') return 'closed by sockdash (FIN)';
  return /reset/i.test(e.summary) ? 'reset by the peer (RST)' : 'closed by the peer (FIN)';
}

function protocolLayer(e, bytes, encoding) {
  if (isHiddenPrivate(e)) {
    return layer('Direct message', [['Payload', `${e.length} bytes, shown to the admin only`]]);
  }
  if (e.kind === 'open') return layer('Connection', [['Event', 'connected (the three-way handshake completed)']]);
  if (e.kind === 'close') return layer('Connection', [['Event', closeReason(e)]]);
  if (e.service === 'tftp') return layer(`TFTP: ${e.summary}`, tftpFields(bytes, e.length));
  const { text, used } = decode(bytes, encoding);
  const name = e.transport === 'ws' ? 'WebSocket text' : `Data (${ENCODING_NAMES[used]})`;
  return layer(e.private ? `${name}: a direct message` : name, [['Text', printable(text)]]);
}

function showFields(e, bytes, encoding) {
  const kept = bytes.length;
  const when = new Date(Math.floor(e.time_us / 1000));
  const fromPeer = e.direction === 'in';
  const ends = fromPeer ? `${e.peer} → ${e.local}` : `${e.local} → ${e.peer}`;
  $('details-title').textContent = `Packet #${e.id}`;
  $('fields').replaceChildren(
    layer(`Event #${e.id}: ${e.length} bytes, ${e.service} ${arrow(e)}`, [
      ['Arrival time', `${when.toLocaleDateString()} ${when.toLocaleTimeString([], { hour12: false })}.${String(e.time_us % 1000000).padStart(6, '0')}`],
      ['Service', e.service], ...(e.instance ? [['Instance', `${e.instance} (another sockdash on the bus)`]] : []),
      ['Kind', e.kind],
      ['Direction', e.kind === 'close' ? closeReason(e) : (fromPeer ? 'in: from the peer to sockdash' : 'out: from sockdash to the peer')],
    ]),
    layer(`${e.transport.toUpperCase()}: ${ends}`, [
      ['Peer', e.peer], ['sockdash', e.local],
      ['Length', kept < e.length && !isHiddenPrivate(e) ? `${e.length} bytes (the first ${kept} kept)` : `${e.length} bytes`],
    ]),
    protocolLayer(e, bytes, encoding),
  );
}

function showBytes(e, bytes, encoding) {
  const note = $('bytes-note');
  const dump = $('dump');
  $('encoding-used').textContent = '';
  if (isHiddenPrivate(e)) {
    note.textContent = `Direct message: ${e.length} bytes, shown to the admin only.`;
    dump.hidden = true;
    return;
  }
  if (!bytes.length) {
    note.textContent = e.length ? `${e.length} bytes sent by sendfile: not kept.` : 'No payload.';
    dump.hidden = true;
    return;
  }
  const { text, used } = decode(bytes, encoding);
  if (encoding === 'auto') $('encoding-used').textContent = `(${ENCODING_NAMES[used]})`;
  note.textContent = bytes.length < e.length ? `The first ${bytes.length} of ${e.length} bytes (the log keeps 256).` : '';
  $('hex').textContent = hexLines(bytes, $('bytes').clientWidth < HEX_16_WIDTH ? 8 : 16);
  $('text').textContent = printable(text);
  dump.hidden = false;
}

export function showDetails(e) {
  const encoding = $('encoding').value;
  const bytes = bytesOf(e);
  showFields(e, bytes, encoding);
  showBytes(e, bytes, encoding);
}
