// The page's pure modules in node: merging the event stream, aligning trajectories, the
// Markdown renderer's escaping, number formats, the submit form's lab options.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  escapeHtml, formatAccuracy, formatLoss, logTickPlan, nonFiniteName, stateName, toNumber,
} from '../../web/src/format.js';
import { renderMarkdown } from '../../web/src/markdown.js';
import {
  JobSeries, MAX_DOTS, alignTables, chartSeriesFor, ema, fewDots, smoothColumns, smoothMarkers,
  trajectoryCsv, trajectoryTable, validationTable,
} from '../../web/src/series.js';
import { initColor, runStyles } from '../../web/src/colors.js';
import {
  FollowUps, deeperRequest, labOptionsProblem, maxSeeds,
} from '../../web/src/lab_options.js';

const runs = [
  { id: '7', index: 0, spec: { init: 'uniform' }, state: 'RUN_STATE_QUEUED' },
  { id: '8', index: 1, spec: { init: 'kaiming' }, state: 'RUN_STATE_QUEUED' },
];

describe('JobSeries', () => {
  it('merges steps in order, maps NaN to gaps and marks the first non-finite step', () => {
    const s = new JobSeries(runs);
    s.apply({ cursor: '3', runsStarted: [{ runId: '7', index: 0 }] });
    assert.equal(s.run('7').summary.state, 'RUN_STATE_RUNNING');
    s.apply({
      cursor: '5',
      steps: [{ runId: '7', firstStep: 0, losses: [2.5, 1e30, 'NaN'], seconds: [0.5, 0.5, 0.5] },
        { runId: '8', firstStep: 0, losses: [0.7], seconds: [0.25] }],
    });
    assert.deepEqual(s.steps, [0, 1, 2]);
    assert.deepEqual(s.data(false), [[0, 1, 2], [2.5, 1e30, null], [0.7]]);
    assert.equal(s.run('7').firstNonFinite, 2);
    assert.deepEqual(s.run('7').peak, { step: 1, loss: 1e30 });
    assert.equal(s.stepsPerSecond('7'), 2);
    assert.equal(s.totalSteps(), 4);
    assert.equal(s.cursor, '5');
  });

  it('drops a repeated step and counts a missing one, so neither goes unnoticed', () => {
    const s = new JobSeries(runs);
    s.apply({ steps: [{ runId: '8', firstStep: 0, losses: [1, 2] }] });
    s.apply({ steps: [{ runId: '8', firstStep: 1, losses: [2, 3] }] });
    assert.equal(s.duplicates, 1);
    s.apply({ steps: [{ runId: '8', firstStep: 5, losses: [6] }] });
    assert.equal(s.gaps, 2);
    assert.deepEqual(s.data(false)[2], [1, 2, 3, null, null, 6]);
  });

  it('starts a restarted run over from step 0 and keeps why', () => {
    const s = new JobSeries(runs);
    s.apply({ steps: [{ runId: '7', firstStep: 0, losses: [3, 2, 1] }], evals: [{ runId: '7', step: 2, loss: 1, accuracy: 0.5 }] });
    s.apply({
      runsRestarted: [{ runId: '7', index: 0, reason: 'run 0 started over from step 0: another build' }],
      steps: [{ runId: '7', firstStep: 0, losses: [4] }],
    });
    assert.deepEqual(s.data(false)[1], [4]);
    assert.equal(s.duplicates, 0);
    assert.equal(s.lastEval('7'), null);
    assert.equal(s.run('7').summary.restartReason, 'run 0 started over from step 0: another build');
    assert.deepEqual(s.steps, [0]);
  });

  it('takes the final summaries from runsFinished and jobFinished', () => {
    const s = new JobSeries(runs);
    s.apply({
      runsFinished: [{ run: { id: '7', state: 'RUN_STATE_DIVERGED', outcome: 'diverged at step 2', stepsPerSecond: 40, firstNonfiniteStep: 2 } }],
      jobFinished: { job: { runs: [{ id: '8', state: 'RUN_STATE_COMPLETED', outcome: 'flatlined at step 30', flatlineStep: 30 }] } },
    });
    assert.equal(s.run('7').summary.outcome, 'diverged at step 2');
    assert.equal(s.stepsPerSecond('7'), 40);
    const [m7, m8] = s.markers();
    assert.equal(m7.nonFinite, 2);
    assert.equal(m7.nonFiniteLoss, null);  // only the summary named the step
    assert.equal(m8.flatline, 30);
  });

  it('leaves non-positive losses out of the log view only', () => {
    const s = new JobSeries(runs);
    s.apply({ steps: [{ runId: '7', firstStep: 0, losses: [0, 1, '-Infinity'] }] });
    assert.deepEqual(s.data(false)[1], [0, 1, null]);
    assert.deepEqual(s.data(true)[1], [null, 1, null]);
    // The chart's ✕ says what the loss became: here −Infinity, not NaN.
    assert.equal(s.markers()[0].nonFinite, 2);
    assert.equal(s.markers()[0].nonFiniteLoss, -Infinity);
  });
});

describe('trajectories for the compare view', () => {
  it('aligns runs of different lengths: a missing step is bridged (undefined), NaN is a gap (null)', () => {
    const a = trajectoryTable({ steps: [0, 1, 2], losses: [1, 'NaN', 0.5], firstNonfiniteStep: 1 }, false);
    const b = trajectoryTable({ steps: [0, 2, 4], losses: [3, 2, 1] }, false);
    assert.equal(a.nonFinite, 1);
    assert.ok(Number.isNaN(a.nonFiniteLoss));
    const inf = trajectoryTable({ steps: [0, 1], losses: [1, 'Infinity'], firstNonfiniteStep: 1 }, false);
    assert.equal(inf.nonFiniteLoss, Infinity);
    assert.equal(b.nonFinite, null);
    assert.equal(b.nonFiniteLoss, null);
    assert.deepEqual(b.peak, { step: 0, loss: 3 });
    const [x, ya, yb] = alignTables([a.table, b.table]);
    assert.deepEqual(x, [0, 1, 2, 4]);
    assert.deepEqual(ya, [1, null, 0.5, undefined]);
    assert.deepEqual(yb, [3, undefined, 2, 1]);
  });
});

describe('renderMarkdown', () => {
  it('escapes every HTML character of the source', () => {
    const html = renderMarkdown('# <script>alert(1)</script>\n\n<img src=x onerror=alert(1)> & "q"');
    assert.ok(!html.includes('<script>'));
    assert.ok(!html.includes('<img'));
    assert.ok(html.includes('&lt;script&gt;'));
    assert.ok(html.includes('&amp; &quot;q&quot;'));
  });

  it('renders the README\'s constructs', () => {
    const md = [
      '# Job 3: lab', '', '## Answers', '',
      '1. **At what step?** At **step 2** (`steps_to_nan_uniform` = 2).',
      '2. **Xavier** vs *Kaiming*.',
      '4. **Depth?**',
      '   - **uniform** (explodes): gain 10.7.',
      '   - **xavier** (vanishes).',
      '', '---', '', 'Written by Ablate; see `manifest.json`.',
    ].join('\n');
    const html = renderMarkdown(md).replaceAll('\n', '');
    assert.ok(html.includes('<h1>Job 3: lab</h1>'));
    assert.ok(html.includes('<h2>Answers</h2>'));
    assert.ok(html.includes('<ol><li><strong>At what step?</strong> At <strong>step 2</strong> (<code>steps_to_nan_uniform</code> = 2).'));
    assert.ok(html.includes('<em>Kaiming</em>'));
    assert.ok(html.includes('<ul><li><strong>uniform</strong> (explodes): gain 10.7.'));
    assert.ok(html.includes('</li></ul>'));
    assert.ok(html.includes('<hr>'));
    assert.ok(html.includes('<p>Written by Ablate; see <code>manifest.json</code>.</p>'));
    assert.equal((html.match(/<ol/g) ?? []).length, 1);
  });

  it('links only http(s) URLs', () => {
    assert.ok(renderMarkdown('[a](https://example.org/x?a=1&b=2)').includes(
      '<a href="https://example.org/x?a=1&amp;b=2" rel="noopener noreferrer" target="_blank">a</a>'));
    assert.ok(!renderMarkdown('[a](javascript:alert(1))').includes('<a'));
  });
});

describe('format', () => {
  it('reads the JSON mapping\'s strings and formats losses', () => {
    assert.ok(Number.isNaN(toNumber('NaN')));
    assert.equal(toNumber('Infinity'), Infinity);
    assert.equal(toNumber('12'), 12);
    assert.equal(formatLoss('NaN'), 'NaN');
    assert.equal(formatLoss(0.693147), '0.6931');
    assert.equal(formatLoss(367380.53), '3.67e+5');
    assert.equal(stateName('JOB_STATE_SUCCEEDED'), 'succeeded');
    // A run's first non-finite loss by name, from a number or the JSON mapping's string.
    assert.equal(nonFiniteName('Infinity'), '+∞');
    assert.equal(nonFiniteName(-Infinity), '−∞');
    assert.equal(nonFiniteName('NaN'), 'NaN');
    assert.equal(nonFiniteName(undefined), 'non-finite');
    assert.equal(nonFiniteName(null), 'non-finite');
    assert.equal(nonFiniteName(0.5), 'non-finite');
    assert.equal(escapeHtml('<a href="x">\'</a>'), '&lt;a href=&quot;x&quot;&gt;&#39;&lt;/a&gt;');
  });
});

describe('validation on the chart', () => {
  it('puts each run\'s validation beside its training loss, at the evaluation steps', () => {
    const s = new JobSeries(runs);
    s.apply({ steps: [{ runId: '8', firstStep: 0, losses: [0.7, 0.5, 0.3, 0.1] }] });
    s.apply({
      evals: [{ runId: '8', step: 2, loss: 0.6, accuracy: 0.6 },
        { runId: '8', step: 4, loss: 'Infinity', accuracy: 0.5 }],
    });
    // A repeated evaluation (a resumed stream) is not added twice.
    s.apply({ evals: [{ runId: '8', step: 4, loss: 2, accuracy: 0.5 }] });
    assert.deepEqual(s.evals.get('8').map((e) => e.step), [2, 4]);
    const data = s.chartData(false);
    // x runs to the final validation, one step past the last training loss.
    assert.deepEqual(data[0], [0, 1, 2, 3, 4]);
    // training: uniform (no steps), kaiming; then validation: uniform, kaiming.
    assert.equal(data.length, 5);
    assert.deepEqual(data[2], [0.7, 0.5, 0.3, 0.1, undefined]);
    assert.deepEqual(data[3], [undefined, undefined, undefined, undefined, undefined]);
    assert.deepEqual(data[4], [undefined, undefined, 0.6, undefined, null]);
    assert.equal(s.lastEval('8').accuracy, 0.5);
  });

  it('labels training and validation apart, in the run\'s colour, with the last accuracy', () => {
    const looks = runStyles(['uniform', 'kaiming']);
    const defs = chartSeriesFor([
      { label: 'uniform', ...looks[0], lastEval: null },
      { label: 'kaiming', ...looks[1], lastEval: { step: 1000, loss: 2.0, accuracy: 0.525 } },
    ]);
    assert.equal(defs.length, 4);
    assert.equal(defs[1].label, 'kaiming · training');
    assert.equal(defs[3].label, 'kaiming · validation (acc 52.5 %)');
    assert.equal(defs[2].label, 'uniform · validation');
    assert.equal(defs[3].color, defs[1].color);
    assert.equal(defs[3].color, initColor('kaiming'));
    assert.notEqual(defs[1].color, defs[0].color);
    assert.ok(defs[3].dash.length > 0 && defs[3].points && defs[3].spanGaps);
    assert.ok(!defs[1].points && !defs[1].spanGaps);
  });

  it('reads the API\'s evaluations for the compare view, dropping what a log axis cannot show', () => {
    assert.deepEqual(
      validationTable([{ step: '100', loss: 0.5 }, { step: '200', loss: 0 }, { step: '300', loss: 'NaN' }], true),
      [[100, 200, 300], [0.5, null, null]],
    );
    assert.deepEqual(validationTable(undefined, false), [[], []]);
  });

  it('smooths training only: raw (faint) then smoothed per run, validation as it is, markers on the smoothed', () => {
    const looks = runStyles(['uniform', 'kaiming']);
    const runs2 = [
      { label: 'uniform', ...looks[0], lastEval: null },
      { label: 'kaiming', ...looks[1], lastEval: { step: 4, loss: 0.5, accuracy: 0.75 } },
    ];
    const defs = chartSeriesFor(runs2, true);
    assert.deepEqual(defs.map((d) => d.label), [
      'uniform · training (raw)', 'uniform · training', 'kaiming · training (raw)',
      'kaiming · training', 'uniform · validation', 'kaiming · validation (acc 75.0 %)',
    ]);
    assert.equal(defs[1].color, initColor('uniform'));
    assert.notEqual(defs[0].color, defs[1].color);  // the raw curve is a faint tint
    assert.equal(defs[5].color, initColor('kaiming'));
    assert.ok(defs[5].points && defs[5].spanGaps);
    const data = [[0, 1, 2], [1, 2, 3], [4, null, 2], [undefined, 0.5, undefined], [0.9, undefined, 0.8]];
    const smoothed = smoothColumns(data, 2, 0.5);
    assert.equal(smoothed.length, 1 + 2 * 2 + 2);
    assert.deepEqual(smoothed[1], data[1]);
    assert.deepEqual(smoothed[2], ema(data[1], 0.5));
    assert.deepEqual(smoothed[3], data[2]);
    assert.deepEqual(smoothed[4], ema(data[2], 0.5));
    assert.deepEqual(smoothed.slice(5), data.slice(3));  // validation untouched
    assert.equal(smoothColumns(data, 2, 0), data);
    const markers = [{ nonFinite: 3 }, { nonFinite: null }];
    assert.deepEqual(smoothMarkers(markers, true), [{}, markers[0], {}, markers[1]]);
    assert.equal(smoothMarkers(markers, false), markers);
  });
});

describe('smoothing, CSV and init colours', () => {
  it('smooths with a debiased EMA that skips gaps and is off at weight 0', () => {
    assert.deepEqual(ema([1, 2, null, 4], 0), [1, 2, null, 4]);
    const s = ema([1, 2, null, 4], 0.5);
    assert.equal(s[0], 1);                 // debiased: starts at the first value, not at 0
    assert.ok(Math.abs(s[1] - 5 / 3) < 1e-12);
    assert.equal(s[2], null);              // a gap stays a gap
    assert.ok(Math.abs(s[3] - 2.625 / 0.875) < 1e-12);  // acc 2.625 / norm 0.875
  });

  it('writes a run\'s steps with its evaluations as CSV, the last evaluation on a row of its own', () => {
    const csv = trajectoryCsv({
      steps: [0, 1, 2], losses: [0.5, 'NaN', 'Infinity'],
      evals: [{ step: 1, loss: 0.75, accuracy: 0.5 }, { step: 3, loss: 0.25, accuracy: 0.875 }],
    });
    assert.equal(csv, 'step,loss,val_loss,val_accuracy\n0,0.5,,\n1,nan,0.75,0.5\n2,inf,,\n3,,0.25,0.875\n');
  });

  it('shows n/a, not 0 %, for a validation whose non-finite loss measured no accuracy', () => {
    // The API leaves accuracy out beside a non-finite loss (EvalResult.accuracy is optional).
    const s = new JobSeries(runs);
    s.apply({ evals: [{ runId: '7', step: 2, loss: 'NaN' }] });
    assert.equal(s.lastEval('7').accuracy, null);
    const looks = runStyles(['uniform', 'kaiming']);
    const series = chartSeriesFor([{ label: 'uniform', ...looks[0], lastEval: s.lastEval('7') }], false);
    assert.ok(series.some((x) => x.label === 'uniform · validation (acc n/a)'),
      series.map((x) => x.label).join(' | '));
    assert.equal(formatAccuracy(undefined), 'n/a');
    assert.equal(formatAccuracy(0), '0.0 %');
    const csv = trajectoryCsv({ steps: [0, 1], losses: [0.5, 'NaN'], evals: [{ step: 1, loss: 'NaN' }] });
    assert.equal(csv, 'step,loss,val_loss,val_accuracy\n0,0.5,,\n1,nan,nan,\n');
  });

  it('gives each init one colour, the same as the server\'s figures, and dashes a repeat', () => {
    // server/artifacts/init_colors.cc holds the same table.
    assert.equal(initColor('uniform'), '#D55E00');
    assert.equal(initColor('xavier'), '#0072B2');
    assert.equal(initColor('kaiming'), '#009E73');
    assert.equal(initColor('no-such-init'), '#000000');
    const styles = runStyles(['kaiming', 'xavier', 'kaiming']);
    assert.deepEqual(styles.map((s) => s.color), ['#009E73', '#0072B2', '#009E73']);
    assert.deepEqual(styles[0].dash, []);
    assert.notDeepEqual(styles[2].dash, []);
  });
});

describe('logTickPlan', () => {
  it('labels 1-2-5 within two decades, powers of ten beyond, and thins them to 24 px apart', () => {
    assert.deepEqual(logTickPlan(0.5, 20, 300), { keep: [1, 2, 5], every: 1 });
    assert.deepEqual(logTickPlan(0.01, 1000, 300), { keep: [1], every: 1 });
    // A diverged uniform run: 1e-2 to 1e30 (32 decades) on 300 px: 12 labels fit, every 5th.
    assert.deepEqual(logTickPlan(1e-2, 1e30, 300), { keep: [1], every: 5 });
    // On a phone's 180 px: 7 fit, every 5th (32 / 7 rounds up to 5).
    assert.deepEqual(logTickPlan(1e-2, 1e30, 180), { keep: [1], every: 5 });
    assert.deepEqual(logTickPlan(1e-30, 1e30, 100), { keep: [1], every: 20 });
  });
});

describe('lab options', () => {
  it('allows seeds up to the server\'s 16 runs per job, and says why in one sentence', () => {
    assert.equal(maxSeeds(3), 5);
    assert.equal(maxSeeds(1), 16);
    assert.equal(maxSeeds(0), 16);
    const base = { runs: 3, varyDataSeed: false, verifyDepth: false, depth: '12' };
    assert.equal(labOptionsProblem({ ...base, seeds: '' }), null);
    assert.equal(labOptionsProblem({ ...base, seeds: '5' }), null);
    for (const bad of ['0', '6', '2.5', '-1', '1e9']) {
      const problem = labOptionsProblem({ ...base, seeds: bad });
      assert.equal(problem.field, 'seeds', bad);
      assert.equal(problem.message, `Seeds per init must be a whole number from 1 to 5 (got “${bad}”): `
        + 'each of the 3 ticked inits trains once per seed, and a job holds at most 16 runs.');
    }
    assert.equal(labOptionsProblem({ ...base, seeds: '1', varyDataSeed: true }).field, 'vary_data_seed');
    assert.equal(labOptionsProblem({ ...base, seeds: '2', varyDataSeed: true }), null);
    assert.equal(labOptionsProblem({ ...base, seeds: '', verifyDepth: true, depth: '24' }).field, 'verify_depth');
    assert.equal(labOptionsProblem({ ...base, seeds: '', verifyDepth: true }), null);
  });

  it('builds the deeper job from the first one\'s request, leaving that one as it was', () => {
    const request = { owner: 'ada', spec: { name: 'mine', model: { depth: 12, width: 256 }, seeds: 2, runs: [{ init: 'xavier' }] } };
    const deeper = deeperRequest(request);
    assert.deepEqual(deeper, { owner: 'ada', spec: { name: 'mine · depth 24', model: { depth: 24, width: 256 }, seeds: 2, runs: [{ init: 'xavier' }] } });
    assert.equal(request.spec.model.depth, 12);
    assert.equal(deeperRequest({ spec: { name: '', model: {} } }).spec.name, '');
  });

  // A fake server and storage: getJob answers the states listed, one per call.
  const memoryStorage = () => {
    const items = new Map();
    return { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, String(v)) };
  };
  const fakeApi = (states, submitError = null) => {
    const submitted = [];
    return {
      submitted,
      getJob: async () => ({ state: states.length > 1 ? states.shift() : states[0] }),
      submitJob: async (request) => {
        if (submitError) throw submitError;
        submitted.push(request);
        return { job: { id: '9' } };
      },
    };
  };

  it('submits the deeper job once the first has succeeded, and only once', async () => {
    const server = fakeApi(['JOB_STATE_RUNNING', 'JOB_STATE_SUCCEEDED']);
    const followUps = new FollowUps({ api: server, storage: memoryStorage() });
    followUps.save('4', { request: { spec: { model: { depth: 24 } } }, state: 'waiting' });
    assert.equal(await followUps.check('4'), true);  // still running: look again
    assert.equal(await followUps.check('4'), false);
    assert.equal(await followUps.check('4'), false);
    assert.equal(server.submitted.length, 1);
    assert.equal(followUps.get('4').state, 'submitted');
    assert.equal(followUps.get('4').deeperId, '9');
  });

  it('submits nothing after a failed first job, and keeps trying while the server is away', async () => {
    const failed = fakeApi(['JOB_STATE_FAILED']);
    let followUps = new FollowUps({ api: failed, storage: memoryStorage() });
    followUps.save('4', { request: {}, state: 'waiting' });
    assert.equal(await followUps.check('4'), false);
    assert.equal(failed.submitted.length, 0);
    assert.equal(followUps.get('4').message, 'Job 4 failed, so the depth-24 job was not submitted.');

    const away = fakeApi(['JOB_STATE_SUCCEEDED'], Object.assign(new Error('down'), { status: 0 }));
    followUps = new FollowUps({ api: away, storage: memoryStorage() });
    followUps.save('4', { request: {}, state: 'waiting' });
    assert.equal(await followUps.check('4'), true);
    assert.equal(followUps.get('4').state, 'waiting');

    const refused = fakeApi(['JOB_STATE_SUCCEEDED'], Object.assign(new Error('model.depth must be …'), { status: 400 }));
    followUps = new FollowUps({ api: refused, storage: memoryStorage() });
    followUps.save('4', { request: {}, state: 'waiting' });
    assert.equal(await followUps.check('4'), false);
    assert.equal(followUps.get('4').message, 'The server refused the depth-24 job: model.depth must be …');
  });
});

describe('fewDots', () => {
  it('shows the validation dots while at most MAX_DOTS are in view, gaps not counted', () => {
    // A validation column as the chart holds it: a value every 5 steps, null between.
    const column = Array.from({ length: 5 * (MAX_DOTS + 1) }, (_, i) => (i % 5 === 0 ? 0.5 : null));
    const u = { data: [column.map((_, i) => i), column] };
    assert.equal(fewDots(u, 1, 0, column.length - 1), false);  // MAX_DOTS + 1 in view
    assert.equal(fewDots(u, 1, 5, column.length - 1), true);   // zoomed past the first
    assert.equal(fewDots(u, 1, 0, 100), true);
  });
});
