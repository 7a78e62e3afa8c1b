// The little helpers every page uses, one copy each: element look-up and building, hex and
// byte formatting, and stored preferences. Pages load ES modules (the CSP allows scripts from
// 'self' only, no inline script), so this is one: `import { $, el, loadPref } from './common.js'`.
// Network text only ever reaches the page through textContent, which is what el() sets.

export const $ = (id) => document.getElementById(id);

// <tag class="className">text</tag>; either may be left out.
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A type="button" button (never a form's submit), labelled for screen readers when its text is short.
export function button(label, ariaLabel, onClick, className = '') {
  const b = el('button', className, label);
  b.type = 'button';
  if (ariaLabel) b.setAttribute('aria-label', ariaLabel);
  if (onClick) b.addEventListener('click', onClick);
  return b;
}

// ---- numbers as text ---------------------------------------------------------------------------
export const pad = (n, width = 2) => String(n).padStart(width, '0');

export const hexByte = (b) => b.toString(16).padStart(2, '0');

// "48690a" -> Uint8Array [0x48, 0x69, 0x0a] (the servers send payloads as hex)
export function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

export function formatBytes(n) {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

// ---- stored preferences ------------------------------------------------------------------------
// Whatever storage holds (another version's value, a hand edit, another app on this origin) must
// never stop a page: a value that is not JSON, or that ``valid`` refuses, is the fallback; so is
// storage that is switched off (a privacy setting makes getItem throw).
const sameKind = (fallback) => (value) => (Array.isArray(fallback)
  ? Array.isArray(value)
  : value !== null && typeof value === typeof fallback && !Array.isArray(value));

// ``area`` is 'local' or 'session' (named, not passed: merely reading window.localStorage throws
// when storage is switched off).
const storageOf = (area) => window[`${area}Storage`];

export function loadPref(key, fallback, valid = sameKind(fallback), area = 'local') {
  try {
    const raw = storageOf(area).getItem(key);
    if (raw === null) return fallback;
    const value = JSON.parse(raw);
    return valid(value) ? value : fallback;
  } catch {
    return fallback;
  }
}

// Stored as JSON; storage full or refused: the choice holds for this page only.
export function savePref(key, value, area = 'local') {
  try { storageOf(area).setItem(key, JSON.stringify(value)); } catch { /* this page only */ }
}

// A plain string (not JSON), as the chat keeps its nick and its tab's ids.
export function loadText(key, area = 'local') {
  try {
    const value = storageOf(area).getItem(key);
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}

export function saveText(key, value, area = 'local') {
  try { storageOf(area).setItem(key, value); } catch { /* this page only */ }
}
