// Traffic per service over the last 5 minutes: one small chart per service, each on its own
// scale (a TFTP transfer at 2,000 packets/s would flatten a chat's 2 lines/s on a shared one),
// with a clock-time axis. Canvases are sized in device pixels so they stay sharp on hi-DPI.
import { formatBytes } from './common.js';

export const SERVICE_COLORS = { tcp_chat: '#1f6feb', udp_chat: '#0e7c86', file: '#9a6700', tftp: '#cf222e',
  web_chat: '#8250df', tools: '#57606a' };
const WINDOW = 300; // seconds shown
const HEIGHT = 76; // css px of one chart
const AXIS = 14; // css px under the plot for the time labels

function niceMax(value) {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * power >= value);
  return step * power;
}

function clock(t) {
  return new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
}

export class TrafficCharts {
  constructor(container, metricSelect) {
    this.container = container;
    this.metricSelect = metricSelect;
    this.samples = [];
    this.figures = new Map(); // service -> { figure, canvas, caption }
    metricSelect.addEventListener('change', () => this.draw());
    new ResizeObserver(() => this.draw()).observe(container);
  }

  add(...samples) {
    this.samples.push(...samples);
    const cutoff = (this.samples.length ? this.samples[this.samples.length - 1].t : 0) - WINDOW;
    while (this.samples.length && this.samples[0].t < cutoff) this.samples.shift();
    this.draw();
  }

  servicesWithTraffic() {
    const seen = new Set();
    for (const s of this.samples) {
      for (const [name, [packets]] of Object.entries(s.services)) if (packets > 0) seen.add(name);
    }
    return [...seen].sort();
  }

  figureFor(service) {
    let entry = this.figures.get(service);
    if (!entry) {
      const figure = document.createElement('figure');
      figure.className = 'chart';
      figure.dataset.service = service;
      const caption = document.createElement('figcaption');
      const canvas = document.createElement('canvas');
      canvas.setAttribute('role', 'img');
      entry = { figure, canvas, caption };
      figure.append(caption, canvas);
      this.figures.set(service, entry);
    }
    return entry;
  }

  draw() {
    const services = this.servicesWithTraffic();
    if (!services.length) {
      const empty = document.createElement('p');
      empty.className = 'placeholder';
      empty.textContent = 'No traffic in the last 5 minutes.';
      this.container.replaceChildren(empty);
      return;
    }
    const entries = services.map((name) => [name, this.figureFor(name)]);
    const current = [...this.container.children];
    if (current.length !== entries.length || entries.some(([, e], i) => current[i] !== e.figure)) {
      this.container.replaceChildren(...entries.map(([, e]) => e.figure));
    }
    for (const [name, entry] of entries) this.drawOne(name, entry);
  }

  drawOne(service, { canvas, caption }) {
    const index = this.metricSelect.value === 'bytes' ? 1 : 0;
    const unit = (v) => (index ? `${formatBytes(v)}/s` : `${Math.round(v).toLocaleString()} pkt/s`);
    const values = this.samples.map((s) => [s.t, (s.services[service] || [0, 0])[index]]);
    const peak = Math.max(0, ...values.map(([, v]) => v));
    const latest = values.length ? values[values.length - 1][1] : 0;
    const what = index ? 'bytes' : 'packets';
    caption.textContent = `${service}: now ${unit(latest)}, peak ${unit(peak)}`;
    canvas.setAttribute('aria-label', `${service}, ${what} per second over the last 5 minutes: now ${unit(latest)}, peak ${unit(peak)}`);
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    if (!width) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(HEIGHT * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, HEIGHT);
    const plot = HEIGHT - AXIS;
    const top = niceMax(peak);
    const now = this.samples.length ? this.samples[this.samples.length - 1].t : Date.now() / 1000;
    const x = (t) => width - ((now - t) / WINDOW) * width;
    const y = (v) => plot - (v / top) * (plot - 4);
    // the time axis: a line per whole minute, labelled with the clock
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    ctx.lineWidth = 1;
    for (let t = Math.ceil((now - WINDOW) / 60) * 60; t <= now; t += 60) {
      const px = Math.round(x(t)) + 0.5;
      ctx.strokeStyle = '#e3e7ec';
      ctx.beginPath(); ctx.moveTo(px, 0); ctx.lineTo(px, plot); ctx.stroke();
      ctx.fillStyle = '#4b5563';
      const label = clock(t);
      const w = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(Math.max(px - w / 2, 0), width - w), plot + 2);
    }
    ctx.strokeStyle = '#9aa4b0';
    ctx.beginPath(); ctx.moveTo(0, plot + 0.5); ctx.lineTo(width, plot + 0.5); ctx.stroke();
    ctx.fillStyle = '#4b5563';
    ctx.fillText(index ? formatBytes(top) : top.toLocaleString(), 3, 1);
    if (values.length < 2) return;
    const color = SERVICE_COLORS[service] || '#1d232b';
    ctx.beginPath();
    ctx.moveTo(x(values[0][0]), plot);
    for (const [t, v] of values) ctx.lineTo(x(t), y(v));
    ctx.lineTo(x(values[values.length - 1][0]), plot);
    ctx.closePath();
    ctx.globalAlpha = 0.18;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
    ctx.stroke();
  }
}
