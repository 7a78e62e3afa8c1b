// File names in the wire form (docs/websocket.md, "Names"): valid Unicode whatever the bytes on
// disk, so nothing here can throw on a name. `display` is what people read and `encoding` says
// how it was read (utf-8, gbk, or escaped bytes). These turn a name into URLs and shell words
// that carry its exact bytes.
import { hexByte } from './common.js';

const B64_MARK = '~b64:';

export const ENCODING_NOTES = {
  gbk: ['GBK', 'The name is GBK bytes on disk (e.g. from a Windows zip), shown decoded'],
  escaped: ['bytes', 'The name holds bytes that are neither UTF-8 nor GBK, shown as \\xNN'],
};

export function wellFormed(text) {
  // the server never sends a lone surrogate; should one come, show it, never throw
  return typeof text.toWellFormed === 'function' ? text.toWellFormed() : text;
}

export function urlPath(path) {
  return wellFormed(path).split('/').map(encodeURIComponent).join('/');
}

export const shown = (entry) => entry.display ?? entry.name;

// The bytes on disk of a wire-form path: "~b64:" parts are URL-safe base64, the rest UTF-8.
export function nameBytes(path) {
  const parts = wellFormed(path).split('/').map((part) => {
    if (!part.startsWith(B64_MARK)) return [...new TextEncoder().encode(part)];
    try {
      return [...atob(part.slice(B64_MARK.length).replace(/-/g, '+').replace(/_/g, '/'))].map((c) => c.charCodeAt(0));
    } catch {
      return [...new TextEncoder().encode(part)];
    }
  });
  return parts.reduce((all, part, i) => (i ? [...all, 0x2f, ...part] : part), []);
}

const isWireText = (path) => !path.split('/').some((part) => part.startsWith(B64_MARK));

// Percent-encoded raw bytes: what curl sends, and what the server reads back byte-exact.
export function percentBytes(bytes) {
  return bytes.map((b) => (/[A-Za-z0-9._~\/-]/.test(String.fromCharCode(b)) && b < 0x80
    ? String.fromCharCode(b) : `%${hexByte(b).toUpperCase()}`)).join('');
}

export function shellQuote(text) {
  return /^[A-Za-z0-9._\/-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

// A shell word for a path's exact bytes: plain text when it is UTF-8, else printf with octal escapes.
export function shellBytes(path) {
  if (isWireText(path)) return shellQuote(path);
  const escaped = nameBytes(path).map((b) => (/[A-Za-z0-9._\/-]/.test(String.fromCharCode(b)) && b < 0x80
    ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`)).join('');
  return `"$(printf '${escaped}')"`;
}

// Where a native download is saved: the readable name, unless it is escaped bytes (kept exact).
export function localName(entry) {
  const name = entry.name ?? entry.path.split('/').pop();
  return entry.encoding === 'escaped' || entry.display === undefined ? shellBytes(name) : shellQuote(entry.display);
}

// The readable name a rename starts from: renaming a GBK name to it stores it in UTF-8.
export function renameSuggestion(entry) {
  if (entry.encoding === 'escaped' || entry.display === undefined) return entry.path;
  const folder = entry.path.includes('/') ? entry.path.slice(0, entry.path.lastIndexOf('/') + 1) : '';
  return folder + entry.display;
}

// fetch, curl, tftp and netcat commands for one file, for the chosen address and ports
export function nativeCommands(entry, host, ports) {
  const uhost = host.includes(':') ? `[${host}]` : host;
  const name = localName(entry);
  const remote = shellBytes(entry.path);
  const url = percentBytes(nameBytes(entry.path));
  const commands = [];
  // curl -O saves under the URL's last part as sent (still percent-encoded): plain names only
  const curlOut = /%/.test(url) ? `-o ${name}` : '-O';
  if (ports.http) commands.push(['curl', `curl ${curlOut} http://${uhost}:${ports.http}/files/${url}`]);
  if (ports.tftp) commands.push(['tftp', `tftp ${host} ${ports.tftp} -m binary -c get ${remote} ${name}`]);
  if (ports.file) commands.push(['netcat', `printf '%s' ${remote} | nc ${host} ${ports.file} > ${name}`]);
  return commands;
}
