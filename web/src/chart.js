// Loss curves with uPlot: step on x, loss on y (log or linear), one line per run's training loss
// and, dashed with a point at each evaluation, one per run's validation loss; and the
// annotations of the server's loss_curves.png: ✕ and a dotted line at a run's first NaN, ◆ where
// it flatlined at chance, a dashed line at chance (ln classes). A blown-up run (uniform init
// reaches 1e30 before its NaN) would flatten every other curve, so while some run ends below
// CLIP_FACTOR × chance the y axis stops there and ▲ on the top edge marks each higher peak.
import uPlot from '../vendor/uPlot.esm.js';
import { formatLoss, logTickPlan, nonFiniteName } from './format.js';
import { fewDots } from './series.js';

export const CLIP_FACTOR = 10;

const INK = '#222222';
const MUTED = '#555555';
// The page's colour for `name` (a CSS custom property: dark mode changes it), else `fallback`.
export function cssColor(name, fallback) {
  if (typeof document === 'undefined') return fallback;
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}
const GRID = '#e3e3e3';

// Tick labels: short ("0.5", "2", "10⁶"). On a log axis spanning more than two decades only the
// powers of ten get a label and a grid line; within two decades 2× and 5× get a label too.
export function tickLabel(v) {
  if (v === null || v === undefined) return '';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e4 || a < 1e-3)) {
    const exp = Math.floor(Math.log10(a) + 1e-9);
    const mantissa = Number((v / 10 ** exp).toPrecision(2));
    // "10³⁰" and "2·10³⁰": a power of ten as it is written, not "1.7×1e30".
    const superscript = String(exp).replace(/[-0-9]/g, (c) => '⁻⁰¹²³⁴⁵⁶⁷⁸⁹'['-0123456789'.indexOf(c)]);
    return `${mantissa === 1 ? '' : `${mantissa}·`}10${superscript}`;
  }
  return String(Number(v.toPrecision(3)));
}

function isDecade(v, keep) {
  const m = v / 10 ** Math.floor(Math.log10(v) + 1e-9);
  return keep.some((k) => Math.abs(m - k) < 1e-6);
}

export function logFilter(u, splits) {
  const { keep, every } = logTickPlan(u.scales.y.min, u.scales.y.max,
    u.bbox.height / (window.devicePixelRatio || 1));
  const onEvery = (v) => Math.round(Math.log10(v)) % every === 0;
  return splits.map((v) => (v !== null && v > 0 && isDecade(v, keep) && (every === 1 || onEvery(v)) ? v : null));
}

export class LossChart {
  // container: an element to fill (its width is followed). options: log scale, clip blow-ups,
  // the chance loss, the height, and xMax: the last step planned, so that a live chart's x axis
  // stays put while the curves grow along it (auto when 0).
  constructor(container, {
    log = true, clip = true, chance = Math.LN2, height = 360, xMax = 0,
  } = {}) {
    this.xMax = xMax;
    this.container = container;
    this.log = log;
    this.clip = clip;
    this.chance = chance;
    this.height = height;
    this.series = [];
    this.data = [[]];
    this.markers = [];
    this.plot = null;
    this.resizer = new ResizeObserver(() => this.fit());
    this.resizer.observe(container);
  }

  // series: [{label, color, dash, points, spanGaps}] (points: a dot at every value, for
  // validation; spanGaps: draw through undefined and null); data: uPlot's [x, y0, y1, ...];
  // markers per series, in order (series past the markers' length get none):
  // {nonFinite, nonFiniteLoss, flatline, flatlineLoss, peak}.
  set(series, data, markers) {
    const changed = series.length !== this.series.length ||
      series.some((s, i) => s.label !== this.series[i].label || s.color !== this.series[i].color);
    this.series = series;
    this.data = data;
    this.markers = markers ?? [];
    if (changed || !this.plot) {
      this.build();
    } else {
      this.plot.setData(data);
    }
  }

  setLog(log) {
    if (log === this.log) return;
    this.log = log;
    this.build();
  }

  setClip(clip) {
    if (clip === this.clip) return;
    this.clip = clip;
    this.build();
  }

  // The largest finite loss drawn, over every series.
  dataMax() {
    let max = -Infinity;
    for (let s = 1; s < this.data.length; s++) {
      const ys = this.data[s];
      for (let i = 0; i < ys.length; i++) {
        const v = ys[i];
        if (v !== null && v !== undefined && v > max) max = v;
      }
    }
    return max;
  }

  // Where the y axis stops, or null when it shows everything.
  clipAt() {
    const clip = CLIP_FACTOR * this.chance;
    if (!this.clip || this.dataMax() <= clip) return null;
    // Only when the clip leaves something to read: some run's latest loss is below it.
    for (let s = 1; s < this.data.length; s++) {
      const ys = this.data[s];
      for (let i = ys.length - 1; i >= 0; i--) {
        const v = ys[i];
        if (v === null || v === undefined) continue;
        if (v <= clip) return clip;
        break;
      }
    }
    return null;
  }

  build() {
    this.plot?.destroy();
    const width = Math.max(240, Math.floor(this.container.clientWidth));
    const narrow = width < 520;
    const opts = {
      width,
      height: narrow ? Math.round(this.height * 0.8) : this.height,
      pxAlign: 0,
      scales: {
        x: {
          time: false,
          range: (u, min, max) => [0, Math.max(this.xMax, max ?? 0, 1)],
        },
        y: this.log
          ? {
            distr: 3,
            log: 10,
            range: (u, min, max) => {
              const clip = this.clipAt();
              if (min === null || max === null) return [0.1, 10];
              return uPlot.rangeLog(min, clip ?? max, 10, true);
            },
          }
          : {
            range: (u, min, max) => {
              const clip = this.clipAt();
              const top = clip ?? (max ?? 1);
              return [Math.min(0, min ?? 0), top * (clip ? 1 : 1.05) || 1];
            },
          },
      },
      axes: [
        { label: 'step', stroke: cssColor('--ink', INK), grid: { stroke: GRID }, ticks: { stroke: GRID },
          size: 40, labelSize: 18 },
        {
          label: `loss (${this.log ? 'log' : 'linear'} scale)`, stroke: cssColor('--ink', INK),
          // uPlot merges these over its defaults: a filter key must be absent, not undefined.
          grid: { stroke: GRID, ...(this.log ? { filter: logFilter } : {}) },
          ticks: { stroke: GRID, ...(this.log ? { filter: logFilter } : {}) },
          ...(this.log ? { filter: logFilter } : {}),
          values: (u, splits) => splits.map(tickLabel),
          size: narrow ? 50 : 60,
          labelSize: 18,
        },
      ],
      series: [
        { label: 'step', value: (u, v) => (v === null || v === undefined ? '—' : String(v)) },
        ...this.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          dash: s.dash?.length ? s.dash : undefined,
          points: s.points ? { show: fewDots, size: 6, fill: s.color } : { show: false },
          spanGaps: Boolean(s.spanGaps),
          value: (u, v) => (v === null || v === undefined ? '—' : formatLoss(v)),
        })),
      ],
      legend: { live: true },
      cursor: { drag: { x: true, y: false }, points: { size: 7 } },
      hooks: { draw: [(u) => this.annotate(u)] },
    };
    this.plot = new uPlot(opts, this.data, this.container);
    this.container.dataset.scale = this.log ? 'log' : 'linear';
  }

  fit() {
    if (!this.plot) return;
    const width = Math.max(240, Math.floor(this.container.clientWidth));
    if (Math.abs(width - this.plot.width) < 2) return;
    const narrow = width < 520;
    this.plot.setSize({ width, height: narrow ? Math.round(this.height * 0.8) : this.height });
  }

  annotate(u) {
    const ctx = u.ctx;
    const dpr = uPlot.pxRatio;
    const { left, top, width, height } = u.bbox;
    const font = `${Math.round(12 * dpr)}px system-ui, sans-serif`;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.font = font;
    ctx.textBaseline = 'top';

    // Chance: the loss of a constant uniform guess.
    const [ymin, ymax] = [u.scales.y.min, u.scales.y.max];
    if (this.chance > 0 && this.chance >= ymin && this.chance <= ymax) {
      const y = u.valToPos(this.chance, 'y', true);
      ctx.strokeStyle = cssColor('--muted', MUTED);
      ctx.lineWidth = dpr;
      ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = cssColor('--muted', MUTED);
      ctx.textAlign = 'right';
      ctx.textBaseline = 'bottom';
      ctx.fillText(`chance ${formatLoss(this.chance)}`, left + width - 4 * dpr, y - 3 * dpr);
      ctx.textBaseline = 'top';
    }

    const clip = this.clipAt();
    let label = 0;  // stacks the labels of several runs
    this.markers.forEach((m, i) => {
      const s = this.series[i];
      if (!s || !u.series[i + 1]?.show) return;
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.textAlign = 'left';
      const lineY = top + (6 + 16 * label) * dpr;
      if (m.nonFinite !== null && m.nonFinite !== undefined) {
        const x = u.valToPos(m.nonFinite, 'x', true);
        ctx.lineWidth = 1.5 * dpr;
        ctx.setLineDash([2 * dpr, 3 * dpr]);
        ctx.beginPath();
        ctx.moveTo(x, top);
        ctx.lineTo(x, top + height);
        ctx.stroke();
        ctx.setLineDash([]);
        // What the loss became (NaN, +∞ or −∞), as the run's data says.
        const text = `✕ ${s.label}: ${nonFiniteName(m.nonFiniteLoss)} at step ${m.nonFinite}`;
        const w = ctx.measureText(text).width;
        ctx.fillText(text, Math.min(x + 4 * dpr, left + width - w - 4 * dpr), lineY);
        label++;
      }
      if (m.flatline !== null && m.flatline !== undefined) {
        const x = u.valToPos(m.flatline, 'x', true);
        const v = m.flatlineLoss ?? this.chance;
        const y = u.valToPos(v, 'y', true);
        ctx.beginPath();
        const r = 6 * dpr;
        ctx.moveTo(x, y - r); ctx.lineTo(x + r, y); ctx.lineTo(x, y + r); ctx.lineTo(x - r, y);
        ctx.closePath();
        ctx.fill();
        const text = `◆ ${s.label}: flatline at chance from step ${m.flatline}`;
        const w = ctx.measureText(text).width;
        ctx.fillText(text, Math.min(x + 8 * dpr, left + width - w - 4 * dpr),
          Math.max(top + 4 * dpr, y - 22 * dpr));
      }
      if (clip !== null && m.peak && m.peak.loss > clip) {
        const x = u.valToPos(m.peak.step, 'x', true);
        const r = 6 * dpr;
        ctx.beginPath();
        ctx.moveTo(x, top); ctx.lineTo(x + r, top + 1.6 * r); ctx.lineTo(x - r, top + 1.6 * r);
        ctx.closePath();
        ctx.fill();
        const text = `▲ ${s.label} peaks at ${formatLoss(m.peak.loss)} (step ${m.peak.step})`;
        const w = ctx.measureText(text).width;
        ctx.fillText(text, Math.min(x + 8 * dpr, left + width - w - 4 * dpr),
          top + (6 + 16 * label) * dpr);
        label++;
      }
    });
    ctx.restore();
  }

  destroy() {
    this.resizer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
