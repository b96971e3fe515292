// Small formatting and conversion helpers shared by the views. Pure functions (tested in node).

// Protobuf's JSON mapping writes NaN and infinities as strings, 64-bit integers as strings.
export function toNumber(value) {
  if (typeof value === 'number') return value;
  if (value === undefined || value === null || value === '') return NaN;
  return Number(value);
}

// A loss as people read it: 4 significant digits, exponent notation when large or tiny,
// "NaN"/"+∞"/"−∞" for the non-finite.
export function formatLoss(value) {
  const v = toNumber(value);
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+∞';
  if (v === -Infinity) return '−∞';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

// What a run's loss became where it first was not finite — "NaN", "+∞" or "−∞" — from the
// recorded value (a number or the JSON mapping's string); "non-finite" when that is not at hand.
export function nonFiniteName(value) {
  if (value === undefined || value === null || value === '') return 'non-finite';
  const v = toNumber(value);
  return Number.isFinite(v) ? 'non-finite' : formatLoss(v);
}

export function formatRate(stepsPerSecond) {
  const v = toNumber(stepsPerSecond);
  if (!Number.isFinite(v) || v <= 0) return '—';
  return v >= 100 ? Math.round(v).toLocaleString('en') : v.toPrecision(3);
}

export function formatPercent(fraction) {
  const v = toNumber(fraction);
  return Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : '—';
}

// A validation's accuracy: "n/a" when it has none (the API leaves it out beside a non-finite
// loss: NaN outputs measure no accuracy), not the 0 % the comparisons counted.
export function formatAccuracy(accuracy) {
  return accuracy === undefined || accuracy === null ? 'n/a' : formatPercent(accuracy);
}

// "2026-01-02T03:04:05Z" → "2 Jan 2026, 03:04" in the reader's time zone.
export function formatTime(timestamp) {
  if (!timestamp) return '—';
  const d = new Date(timestamp);
  if (Number.isNaN(d.getTime()) || d.getTime() === 0) return '—';
  return d.toLocaleString('en-GB', {
    day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

// JOB_STATE_RUNNING → "running"; RUN_STATE_DIVERGED → "diverged".
export function stateName(state) {
  if (!state) return 'unknown';
  return String(state).replace(/^(JOB|RUN)_STATE_/, '').toLowerCase();
}

export function jobEnded(state) {
  return ['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(state);
}

// The text of an HTML-escaped string, for building markup from data.
export function escapeHtml(text) {
  return String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export function formatBytes(bytes) {
  const n = toNumber(bytes);
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// Which ticks of a log axis from `min` to `max` over `heightPx` CSS pixels get a label: within
// two decades 1×, 2× and 5× of each; beyond, powers of ten only, and of those only every
// `every`-th (10⁰, 10⁵, 10¹⁰, ...) when one per decade would be closer than 24 px apart (a
// uniform run's loss spans 30 decades on a 300-px chart).
export const MIN_TICK_GAP_PX = 24;
export function logTickPlan(min, max, heightPx) {
  const decades = Math.log10(max / min);
  if (!(decades > 2)) return { keep: [1, 2, 5], every: 1 };
  const fit = Math.max(1, Math.floor(heightPx / MIN_TICK_GAP_PX));
  const every = Math.max(1, Math.ceil(decades / fit));
  // Round up to 1, 2, 5, 10, 20, ... so the labelled powers are ones people count in.
  const nice = [1, 2, 5, 10, 20, 50, 100].find((n) => n >= every) ?? every;
  return { keep: [1], every: nice };
}
