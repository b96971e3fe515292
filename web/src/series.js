// The data behind a job's live chart: every step of every run, merged from the event stream's
// JobUpdates exactly once, in the form uPlot draws (one shared step axis; null where a loss is
// not drawable, which uPlot shows as a gap). Pure data, no DOM (tested in node).
import { withAlpha } from './colors.js';
import { formatAccuracy, toNumber } from './format.js';

export class JobSeries {
  // runs: the job's runs as the API returns them ({id, index, spec: {init}, ...}), in order.
  constructor(runs) {
    this.order = runs.map((r) => String(r.id));
    this.runs = new Map();
    for (const r of runs) {
      this.runs.set(String(r.id), {
        id: String(r.id),
        index: r.index ?? 0,
        init: r.spec?.init ?? '',
        losses: [],          // every recorded step's loss (NaN and ±Infinity as numbers)
        linear: [],          // what the linear chart draws: null where not finite
        log: [],             // what the log chart draws: null where not finite or ≤ 0
        seconds: 0,          // summed wall time of the recorded steps
        firstNonFinite: null,
        peak: null,          // {step, loss}: the largest finite loss
        summary: r,          // the Run as last reported (state, outcome, flatlineStep, ...)
      });
    }
    this.steps = [];         // the x axis: 0 .. longest run's steps - 1
    this.cursor = '0';       // the last update's cursor
    this.duplicates = 0;     // steps received twice (dropped; never expected)
    this.gaps = 0;           // steps never received (never expected)
    this.evals = new Map();  // run id → [{step, loss, accuracy}]
  }

  run(id) { return this.runs.get(String(id)); }

  // Merges one JobUpdate (protobuf JSON). Returns the number of new steps.
  apply(update) {
    let added = 0;
    if (update.cursor !== undefined) this.cursor = String(update.cursor);
    // First: a restarted run's steps in this update are those after its restart.
    for (const restarted of update.runsRestarted ?? []) {
      const r = this.run(restarted.runId);
      if (!r) continue;
      // The server set its steps aside: they are no longer the run's trajectory.
      Object.assign(r, { losses: [], linear: [], log: [], seconds: 0, firstNonFinite: null, peak: null });
      r.summary = { ...r.summary, restartReason: restarted.reason ?? '' };
      this.evals.delete(String(restarted.runId));
      this.steps.length = Math.max(0, ...[...this.runs.values()].map((x) => x.losses.length));
    }
    for (const started of update.runsStarted ?? []) {
      const r = this.run(started.runId);
      if (r && (r.summary.state === 'RUN_STATE_QUEUED' || !r.summary.state)) {
        r.summary = { ...r.summary, state: 'RUN_STATE_RUNNING', outcome: 'running' };
      }
    }
    for (const block of update.steps ?? []) {
      const r = this.run(block.runId);
      if (!r) continue;
      const first = toNumber(block.firstStep ?? 0);
      const losses = block.losses ?? [];
      const seconds = block.seconds ?? [];
      for (let i = 0; i < losses.length; i++) {
        const step = first + i;
        if (step < r.losses.length) { this.duplicates++; continue; }
        while (r.losses.length < step) {  // a hole: keep the axis right, count it
          this.gaps++;
          r.losses.push(NaN); r.linear.push(null); r.log.push(null);
        }
        const loss = toNumber(losses[i]);
        r.losses.push(loss);
        const finite = Number.isFinite(loss);
        r.linear.push(finite ? loss : null);
        r.log.push(finite && loss > 0 ? loss : null);
        if (!finite && r.firstNonFinite === null) r.firstNonFinite = step;
        if (finite && (r.peak === null || loss > r.peak.loss)) r.peak = { step, loss };
        const s = toNumber(seconds[i]);
        if (Number.isFinite(s)) r.seconds += s;
        added++;
      }
      while (this.steps.length < r.losses.length) this.steps.push(this.steps.length);
    }
    for (const e of update.evals ?? []) {
      const list = this.evals.get(String(e.runId)) ?? [];
      const step = toNumber(e.step);
      // In step order, each once (a resumed stream may repeat the last one).
      if (list.length && list[list.length - 1].step >= step) continue;
      // No accuracy (a non-finite loss measured none) stays null, not NaN or 0.
      const accuracy = e.accuracy === undefined || e.accuracy === null ? null : toNumber(e.accuracy);
      list.push({ step, loss: toNumber(e.loss), accuracy });
      this.evals.set(String(e.runId), list);
    }
    // The stream's runs carry no label (GetJob's do): a run keeps the one it had.
    const keepLabel = (r, run) => ({ ...run, label: run.label || r.summary.label });
    for (const finished of update.runsFinished ?? []) {
      const r = this.run(finished.run?.id);
      if (r) r.summary = keepLabel(r, finished.run);
    }
    if (update.jobFinished?.job) {
      for (const run of update.jobFinished.job.runs ?? []) {
        const r = this.run(run.id);
        if (r) r.summary = keepLabel(r, run);
      }
    }
    return added;
  }

  // Steps recorded across all runs.
  totalSteps() {
    let n = 0;
    for (const r of this.runs.values()) n += r.losses.length;
    return n;
  }

  // uPlot's data: [steps, run 0's values, run 1's, ...] for the given scale.
  data(log) {
    return [this.steps, ...this.order.map((id) => (log ? this.run(id).log : this.run(id).linear))];
  }

  // uPlot's data with validation: [x, each run's training loss, then each run's validation
  // loss], on the union of the training steps and the evaluation steps (the final validation
  // follows the last update, one step past the last training loss). A run's validation is
  // defined only at its evaluations; the chart draws it with spanGaps, so it is a line through
  // them.
  chartData(log) {
    const train = this.order.map((id) => {
      const r = this.run(id);
      return [this.steps.slice(0, r.losses.length), log ? r.log : r.linear];
    });
    const val = this.order.map((id) => validationTable(this.evals.get(id) ?? [], log));
    return alignTables([...train, ...val]);
  }

  // Training steps per second of a run: the server's figure once it ended, else from the
  // per-step wall times received.
  stepsPerSecond(id) {
    const r = this.run(id);
    const reported = toNumber(r.summary.stepsPerSecond);
    if (Number.isFinite(reported) && reported > 0) return reported;
    return r.seconds > 0 ? r.losses.length / r.seconds : NaN;
  }

  lastEval(id) {
    const list = this.evals.get(String(id));
    return list?.length ? list[list.length - 1] : null;
  }

  // What the chart annotates, per run in order: the first non-finite step and its loss (NaN or
  // ±Infinity; null when only the run's summary named the step), the flatline step, and the
  // peak (for the clipped linear view).
  markers() {
    return this.order.map((id) => {
      const r = this.run(id);
      const flat = r.summary.flatlineStep;
      return {
        nonFinite: r.firstNonFinite ?? (r.summary.firstNonfiniteStep !== undefined
          ? toNumber(r.summary.firstNonfiniteStep) : null),
        nonFiniteLoss: r.firstNonFinite !== null ? r.losses[r.firstNonFinite] : null,
        flatline: flat !== undefined && flat !== null ? toNumber(flat) : null,
        flatlineLoss: flat !== undefined && flat !== null ? r.linear[toNumber(flat)] ?? null : null,
        peak: r.peak,
      };
    });
  }
}

// A run's validation ([{step, loss}] or the API's EvalResult JSON) as an uPlot table
// [steps, values] for the given scale: null where the loss is not drawable.
export function validationTable(evals, log) {
  const steps = [];
  const values = [];
  for (const e of evals ?? []) {
    const step = toNumber(e.step);
    if (steps.length && step <= steps[steps.length - 1]) continue;
    const v = toNumber(e.loss);
    steps.push(step);
    values.push(Number.isFinite(v) && !(log && v <= 0) ? v : null);
  }
  return [steps, values];
}

// One run's trajectory (GetTrajectoryResponse JSON) as an uPlot table [steps, values] for the
// given scale, and its markers.
export function trajectoryTable(trajectory, log) {
  const steps = (trajectory.steps ?? []).map(toNumber);
  const values = (trajectory.losses ?? []).map((v) => {
    const x = toNumber(v);
    if (!Number.isFinite(x)) return null;
    return log && x <= 0 ? null : x;
  });
  let peak = null;
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== null && (peak === null || values[i] > peak.loss)) {
      peak = { step: steps[i], loss: values[i] };
    }
  }
  const first = trajectory.firstNonfiniteStep;
  const at = first !== undefined && first !== null ? steps.indexOf(toNumber(first)) : -1;
  return {
    table: [steps, values],
    nonFinite: first !== undefined && first !== null ? toNumber(first) : null,
    nonFiniteLoss: at >= 0 ? toNumber(trajectory.losses[at]) : null,
    peak,
  };
}

// Several [x, y] tables on one x axis (the union of their steps); a step a run does not have
// is `undefined`, which uPlot bridges, while its own nulls (NaN) stay gaps. Equivalent to
// uPlot.join for our case, in one pass over sorted inputs.
export function alignTables(tables) {
  const xs = new Set();
  let sorted = true;
  for (const [x] of tables) {
    for (let i = 0; i < x.length; i++) {
      xs.add(x[i]);
      if (i > 0 && x[i] <= x[i - 1]) sorted = false;
    }
  }
  if (!sorted) throw new Error('trajectory steps must ascend');
  const axis = Float64Array.from(xs).sort();
  const index = new Map();
  for (let i = 0; i < axis.length; i++) index.set(axis[i], i);
  const out = [Array.from(axis)];
  for (const [x, y] of tables) {
    const col = new Array(axis.length).fill(undefined);
    for (let i = 0; i < x.length; i++) col[index.get(x[i])] = y[i];
    out.push(col);
  }
  return out;
}

// uPlot's points.show for the validation series: a dot at each evaluation while a series shows
// at most MAX_DOTS in view (indices i0..i1), as the server's figures draw ○ up to 400
// evaluations. Beyond, the dots merge into a thick line, and drawing them kept the page busy
// for seconds (8,000 of them for 4 seeds validated every 5 of 10,000 steps). Zooming in brings
// them back.
export const MAX_DOTS = 400;

export function fewDots(u, seriesIdx, i0, i1) {
  const column = u.data[seriesIdx];
  let n = 0;
  for (let i = i0; i <= i1; i++) {
    if (column[i] !== null && column[i] !== undefined && ++n > MAX_DOTS) return false;
  }
  return true;
}

// The chart's series for runs [{label, color, dash, lastEval}] (color and dash: the run's
// init's, colors.js runStyles): each run's training loss, then each run's validation loss,
// dashed with a dot at each evaluation (fewDots), in the run's colour; the legend says which
// is which and gives the last validation accuracy. With `smoothed`, each run's training loss is
// two series, the raw curve (faint) then the smoothed one: smoothColumns and smoothMarkers give
// the data and the markers in that order. Validation is never smoothed: it has a point per
// evaluation only.
export function chartSeriesFor(runs, smoothed = false) {
  return [
    ...runs.flatMap((r) => {
      const line = { label: `${r.label} · training`, color: r.color, dash: r.dash };
      if (!smoothed) return [line];
      return [{ label: `${r.label} · training (raw)`, color: withAlpha(r.color, 0.25), dash: r.dash }, line];
    }),
    ...runs.map((r) => ({
      label: `${r.label} · validation${r.lastEval ? ` (acc ${formatAccuracy(r.lastEval.accuracy)})` : ''}`,
      color: r.color,
      dash: [6, 4],
      points: true,
      spanGaps: true,
    })),
  ];
}

// uPlot's data [x, `runs` training columns, then the validation columns] in chartSeriesFor's
// order: at an EMA `weight` above 0 each training column is followed by its smoothed copy;
// at 0 the data as it is.
export function smoothColumns(data, runs, weight) {
  if (!(weight > 0)) return data;
  const training = data.slice(1, 1 + runs).flatMap((column) => [column, ema(column, weight)]);
  return [data[0], ...training, ...data.slice(1 + runs)];
}

// The runs' markers in chartSeriesFor's order: when smoothed, the raw curve gets none and the
// smoothed one the run's (the validation series get none either way).
export function smoothMarkers(markers, smoothed) {
  return smoothed ? markers.flatMap((m) => [{}, m]) : markers;
}

// Exponential moving average of a drawn column (TensorBoard's smoothing, debiased so the
// curve starts at the first value, not at 0): s_t = w·s_{t-1} + (1 − w)·x_t over the values
// present; null and undefined (gaps, non-finite losses) stay as they are and do not enter the
// average. weight 0 returns the column itself.
export function ema(values, weight) {
  if (!(weight > 0)) return values;
  const out = new Array(values.length);
  let acc = 0;
  let norm = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    acc = weight * acc + (1 - weight) * v;
    norm = weight * norm + (1 - weight);
    out[i] = acc / norm;
  }
  return out;
}

// A run's steps with its evaluations as CSV: "step,loss,val_loss,val_accuracy", one row per
// recorded step (validation in the row of its step, empty elsewhere), plus a row per
// evaluation at a step without a training loss (the one after the last update). NaN and
// infinities as nan, inf, -inf, as `ablate trajectory --csv` writes them.
export function trajectoryCsv(trajectory) {
  const text = (v) => {
    const x = toNumber(v);
    if (Number.isNaN(x)) return 'nan';
    if (x === Infinity) return 'inf';
    if (x === -Infinity) return '-inf';
    return String(x);
  };
  const evals = new Map((trajectory.evals ?? []).map((e) => [toNumber(e.step), e]));
  const steps = (trajectory.steps ?? []).map(toNumber);
  const rows = steps.map((step, i) => ({ step, loss: text(trajectory.losses[i]) }));
  const have = new Set(steps);
  for (const step of evals.keys()) if (!have.has(step)) rows.push({ step, loss: '' });
  rows.sort((a, b) => a.step - b.step);
  const lines = ['step,loss,val_loss,val_accuracy'];
  for (const { step, loss } of rows) {
    const e = evals.get(step);
    // An evaluation without accuracy (its loss not finite) leaves the field empty.
    const accuracy = e && e.accuracy !== undefined && e.accuracy !== null ? text(e.accuracy) : '';
    lines.push(`${step},${loss},${e ? text(e.loss) : ''},${accuracy}`);
  }
  return `${lines.join('\n')}\n`;
}
