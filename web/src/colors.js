// The one colour of each init scheme, wherever the page draws a run (job chart, compare view,
// class view, job list). The rule: a run's colour follows its init, not its position, and is
// the same in loss_curves.png — server/artifacts/init_colors.cc holds the server's copy of this
// table; change both together. Okabe & Ito's colour-blind-safe palette
// (https://jfly.uni-koeln.de/color/). A second or third run of one init in a chart keeps the
// colour and gets a dash pattern.
export const INIT_COLORS = {
  uniform: '#D55E00',
  xavier: '#0072B2',
  kaiming: '#009E73',
  xavier_uniform: '#56B4E9',
  kaiming_uniform: '#E69F00',
  orthogonal: '#CC79A7',
};
const UNKNOWN = '#000000';
export const INIT_DASHES = [[], [8, 4], [2, 3], [12, 3, 2, 3]];

export function initColor(init) { return INIT_COLORS[init] ?? UNKNOWN; }

// The dash of the `repeat`-th run (from 0) of one init in a chart.
export function initDash(repeat) { return INIT_DASHES[repeat % INIT_DASHES.length]; }

// colors and dashes for runs in chart order: [{color, dash}], by init.
export function runStyles(inits) {
  const seen = new Map();
  return inits.map((init) => {
    const repeat = seen.get(init) ?? 0;
    seen.set(init, repeat + 1);
    return { color: initColor(init), dash: initDash(repeat) };
  });
}

// `hex` (#RRGGBB) at opacity `alpha`, for faint raw curves and bands.
export function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
