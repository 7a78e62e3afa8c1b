// Bytes of a packet event as text, hex and protocol fields. Pure functions: no DOM.
import { hexByte, hexToBytes, pad } from './common.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const decoders = { 'utf-8': new TextDecoder('utf-8'), gbk: new TextDecoder('gbk'), latin1: new TextDecoder('latin1') };
export const ENCODINGS = ['auto', 'utf-8', 'gbk', 'latin1'];
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g; // shown as '·' (tab and newline stay)

export function bytesOf(e) {
  return hexToBytes(e.payload_hex || '');
}

// As the servers do: UTF-8 if the bytes are valid UTF-8, else GBK (the course's Windows scripts).
// A payload cut at 256 bytes may end inside a UTF-8 character: that alone does not make it GBK.
export function decode(bytes, encoding = 'auto') {
  if (encoding !== 'auto') return { text: decoders[encoding].decode(bytes), used: encoding };
  try {
    return { text: strictUtf8.decode(bytes), used: 'utf-8' };
  } catch {
    for (let cut = 1; cut <= 3 && cut < bytes.length; cut += 1) {
      try {
        return { text: strictUtf8.decode(bytes.subarray(0, bytes.length - cut)), used: 'utf-8' };
      } catch { /* try a shorter tail */ }
    }
    return { text: decoders.gbk.decode(bytes), used: 'gbk' };
  }
}

export function printable(text) {
  return text.replace(CONTROL, '·');
}

// 16 bytes a line as in Wireshark, in two groups of 8; 8 a line where 16 do not fit (a phone)
export function hexLines(bytes, perLine = 16) {
  const lines = [];
  for (let i = 0; i < bytes.length; i += perLine) {
    const chunk = [...bytes.subarray(i, i + perLine)].map(hexByte);
    lines.push(`${pad(i.toString(16), 4)}  ${chunk.slice(0, 8).join(' ')}  ${chunk.slice(8).join(' ')}`.trimEnd());
  }
  return lines.join('\n');
}

// A direct message without its bytes: what a viewer without the admin token gets of one.
export function isHiddenPrivate(e) {
  return Boolean(e.private) && !e.payload_hex;
}

export function preview(e) {
  if (isHiddenPrivate(e)) return 'direct message';
  const mark = e.private ? 'direct message: ' : ''; // the admin sees its bytes, marked
  if (e.summary && e.summary !== 'WS text') return mark + e.summary;
  // one line: a line's own end is left out, any other control character is a '·'
  const text = printable(decode(bytesOf(e)).text.replace(/\r?\n$/, '')).replace(/[\t\n]/g, '·');
  return mark + (text.length > 120 ? `${text.slice(0, 120)}…` : text);
}

export function arrow(e) {
  if (e.kind === 'open') return '⇢ open';
  if (e.kind === 'close') return e.direction === 'in' ? '⇠ close' : '⇢ close';
  return e.direction === 'in' ? '→ in' : '← out';
}

export function stamp(us, micro = true) {
  const d = new Date(Math.floor(us / 1000));
  const fraction = pad(us % 1000000, 6);
  return `${d.toLocaleTimeString([], { hour12: false })}.${micro ? fraction : fraction.slice(0, 3)}`;
}

// ---- TFTP (RFC 1350, 2347): the fields Wireshark's dissector shows ---------------------------
const OPCODES = { 1: 'Read Request (RRQ)', 2: 'Write Request (WRQ)', 3: 'Data (DATA)', 4: 'Acknowledgement (ACK)',
  5: 'Error (ERROR)', 6: 'Option Acknowledgement (OACK)' };

function strings(bytes, from) {
  const out = [];
  let start = from;
  for (let i = from; i < bytes.length; i += 1) {
    if (bytes[i] === 0) { out.push(decode(bytes.subarray(start, i)).text); start = i + 1; }
  }
  if (start < bytes.length) out.push(`${decode(bytes.subarray(start)).text}…`);
  return out;
}

export function tftpFields(bytes, length) {
  if (bytes.length < 2) return [['Malformed', `${length} bytes`]];
  const opcode = (bytes[0] << 8) | bytes[1];
  const fields = [['Opcode', `${OPCODES[opcode] || 'unknown'} (${opcode})`]];
  const word = (at) => ((bytes[at] << 8) | bytes[at + 1]);
  if (opcode === 1 || opcode === 2 || opcode === 6) {
    const parts = strings(bytes, 2);
    let rest = parts;
    if (opcode !== 6) {
      fields.push(['Source file', parts[0] ?? ''], ['Type', parts[1] ?? '']);
      rest = parts.slice(2);
    }
    for (let i = 0; i + 1 < rest.length; i += 2) fields.push([`Option ${rest[i]}`, rest[i + 1]]);
  } else if ((opcode === 3 || opcode === 4) && bytes.length >= 4) {
    fields.push(['Block', String(word(2))]);
    if (opcode === 3) fields.push(['Data', `${length - 4} bytes`]);
  } else if (opcode === 5 && bytes.length >= 4) {
    fields.push(['Error code', String(word(2))], ['Error message', strings(bytes, 4)[0] ?? '']);
  }
  return fields;
}
