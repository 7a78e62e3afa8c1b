// Numbers as people read them: durations, rates with decimals when they are low.
import { formatBytes, pad } from './common.js';

// 45 s, 12 min 05 s, 2 h 03 min, 3 d 4 h: two units at most, the second zero-padded
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

// 0, 0.4, 3.5, 12, 1,234: a trickle of 0.4 packets/s is not shown as 0
export function formatCount(n) {
  if (!n) return '0';
  return n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en');
}

export function formatRate(bytesPerSecond) {
  if (!bytesPerSecond) return '0 B/s';
  if (bytesPerSecond < 10) return `${bytesPerSecond.toFixed(1)} B/s`;
  return `${formatBytes(bytesPerSecond)}/s`;
}
