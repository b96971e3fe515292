// The class view's chart: per group of runs, its median training loss per step as a line and
// the 10–90 % band of its runs as a fill in the group's init colour (colors.js), on a log y
// axis. As on the job chart, a blow-up (uniform reaches 1e30 before its NaN) would flatten every
// other group, so the axis stops at CLIP_FACTOR × chance while some group ends below it; the
// groups table gives the blown-up group's outcome. Drag to zoom; reset() shows everything again. The data comes ready from the server's
// class view (ClassView.groups: steps, median, low, high).
import uPlot from '../vendor/uPlot.esm.js';
import { CLIP_FACTOR, cssColor, logFilter, tickLabel } from './chart.js';
import { formatLoss, toNumber } from './format.js';
import { initColor, initDash, withAlpha } from './colors.js';

const GRID = 'rgba(128, 128, 128, 0.25)';

const shown = (u, v) => (v === null || v === undefined ? '—' : formatLoss(v));

// A loss drawable on a log axis, or null (a gap).
const drawable = (v) => {
  const n = toNumber(v);
  return Number.isFinite(n) && n > 0 ? n : null;
};

// groups: ClassView.groups. Returns uPlot's aligned data over the union of their steps and the
// series and band definitions: per group the median (shown, labelled) then its low and high
// (unlabelled, drawn only as the band's edges).
export function classChartData(groups) {
  const steps = [...new Set(groups.flatMap((g) => (g.steps ?? []).map(Number)))]
    .sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const data = [steps];
  const series = [];
  const bands = [];
  const seen = new Map();
  for (const g of groups) {
    const repeat = seen.get(g.init) ?? 0;
    seen.set(g.init, repeat + 1);
    const color = initColor(g.init);
    const columns = [g.median, g.low, g.high].map((values) => {
      const column = new Array(steps.length).fill(null);
      (g.steps ?? []).forEach((s, i) => { column[index.get(Number(s))] = drawable(values?.[i]); });
      return column;
    });
    const base = data.length;
    data.push(...columns);
    const n = g.runs?.length ?? 0;
    series.push(
      { label: `${g.label} (${n} run${n === 1 ? '' : 's'})`, stroke: color, width: 2,
        dash: initDash(repeat), points: { show: false }, value: shown },
      { label: `${g.label} 10 %`, stroke: withAlpha(color, 0.35), width: 1, points: { show: false },
        value: shown },
      { label: `${g.label} 90 %`, stroke: withAlpha(color, 0.35), width: 1, points: { show: false },
        value: shown },
    );
    bands.push({ series: [base + 2, base + 1], fill: withAlpha(color, 0.18) });
  }
  return { data, series, bands };
}

// Where the y axis stops: CLIP_FACTOR × chance when some group's last median is below it (else
// null: everything is shown).
export function classClip(data, chance) {
  const clip = CLIP_FACTOR * chance;
  let max = -Infinity;
  let below = false;
  for (let s = 1; s < data.length; s++) {
    for (const v of data[s]) if (v !== null && v > max) max = v;
    if ((s - 1) % 3 === 0) {  // a median: its last drawable value
      const last = [...data[s]].reverse().find((v) => v !== null);
      if (last !== undefined && last <= clip) below = true;
    }
  }
  return max > clip && below ? clip : null;
}

export class ClassChart {
  constructor(container, { height = 380, chance = Math.LN2 } = {}) {
    this.chance = chance;
    this.container = container;
    this.height = height;
    this.plot = null;
    this.model = null;
    this.resizer = new ResizeObserver(() => this.fit());
    this.resizer.observe(container);
  }

  set(groups) {
    this.model = classChartData(groups);
    this.build();
  }

  build() {
    this.plot?.destroy();
    this.plot = null;
    if (!this.model || this.model.data[0].length === 0) return;
    const width = Math.max(240, Math.floor(this.container.clientWidth));
    const narrow = width < 520;
    this.clip = classClip(this.model.data, this.chance);
    this.container.dataset.clip = this.clip === null ? '' : String(this.clip);
    this.plot = new uPlot({
      width,
      height: narrow ? Math.round(this.height * 0.8) : this.height,
      scales: {
        x: { time: false },
        y: {
          distr: 3,
          log: 10,
          range: (u, min, max) => (min === null || max === null ? [0.1, 10]
            : uPlot.rangeLog(min, this.clip ?? max, 10, true)),
        },
      },
      axes: [
        { label: 'step', stroke: cssColor('--ink', '#222222'), grid: { stroke: GRID }, ticks: { stroke: GRID }, size: 40 },
        { label: 'training loss (log scale)', stroke: cssColor('--ink', '#222222'),
          grid: { stroke: GRID, filter: logFilter }, ticks: { stroke: GRID, filter: logFilter },
          filter: logFilter, values: (u, splits) => splits.map(tickLabel), size: narrow ? 50 : 60 },
      ],
      series: [{ label: 'step' }, ...this.model.series],
      bands: this.model.bands,
      legend: { live: !narrow },
      cursor: { drag: { x: true, y: false } },
      // The steps shown, for tests and people who inspect the page: "0–19", narrower when zoomed.
      hooks: {
        setScale: [(u, key) => {
          if (key === 'x') this.container.dataset.xRange = `${Math.round(u.scales.x.min)}–${Math.round(u.scales.x.max)}`;
        }],
      },
    }, this.model.data, this.container);
    // Legend entries of the band edges stay out of the way: the band is drawn, not listed.
    for (const row of this.plot.root.querySelectorAll('.u-legend .u-series')) {
      if (/ (10|90) %$/.test(row.querySelector('.u-label')?.textContent ?? '')) row.hidden = true;
    }
    this.container.dataset.groups = String(this.model.bands.length);
  }

  // Back to every step and loss (after a drag-zoom).
  reset() { this.build(); }

  fit() {
    if (!this.plot) return;
    const width = Math.max(240, Math.floor(this.container.clientWidth));
    if (Math.abs(width - this.plot.width) < 2) return;
    const narrow = width < 520;
    this.plot.setSize({ width, height: narrow ? Math.round(this.height * 0.8) : this.height });
  }

  destroy() {
    this.resizer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
