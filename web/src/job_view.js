// One job's page (#/jobs/{id}): the job's header, its runs' live chart and table from the
// watch stream, then, once the job has ended, its results, README and files. The view's
// markup is index.html's #view-job; JobView fills it and binds its controls, and leave()
// unbinds them and closes the stream.
import * as api from './api.js';
import { LossChart } from './chart.js';
import { runStyles } from './colors.js';
import {
  escapeHtml, formatAccuracy, formatBytes, formatLoss, formatPercent, formatRate, formatTime, jobEnded, stateName,
  toNumber,
} from './format.js';
import { renderMarkdown } from './markdown.js';
import { renderNotes } from './notes.js';
import {
  JobSeries, chartSeriesFor, smoothColumns, smoothMarkers, trajectoryCsv,
} from './series.js';

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

// The chart's note when its y axis is clipped ('' when not).
export function clipNote(chart) {
  const clip = chart.clipAt();
  return clip === null ? '' : `The y axis stops at ${formatLoss(clip)} (10 × chance) so that the `
    + 'curves that train stay readable; ▲ marks each peak above it. Untick “Clip blow-ups” to see everything.';
}

// manifest.json's results_summary as a definition list, every number from the file; the
// manifest's own definitions explain each key.
function renderSummary(manifest) {
  const summary = manifest.results_summary ?? {};
  const definitions = manifest.definitions ?? {};
  const scalars = Object.entries(summary).filter(([, v]) => v === null || typeof v !== 'object');
  const value = (v) => {
    if (v === null) return '<span class="hint">n/a</span>';
    if (typeof v === 'number') return escapeHtml(Number.isInteger(v) ? String(v) : formatLoss(v));
    return escapeHtml(String(v));
  };
  const rows = scalars.map(([key, v]) => `<div class="kv"><dt title="${escapeHtml(
    definitions[key] ?? '')}"><code>${escapeHtml(key)}</code></dt><dd>${value(v)}</dd></div>`).join('');
  const runs = (summary.runs ?? []).map((r) => `<tr><th scope="row">${escapeHtml(r.label)}</th>
      <td>${escapeHtml(r.outcome ?? '')}</td><td class="num">${r.final_loss === null ? 'NaN' : formatLoss(r.final_loss)}</td>
      <td class="num">${r.final_val_loss === null || r.final_val_loss === undefined ? '—' : formatLoss(r.final_val_loss)}</td>
      <td class="num">${r.final_val_accuracy === null || r.final_val_accuracy === undefined ? '—' : formatPercent(r.final_val_accuracy)}</td></tr>`).join('');
  const notes = (summary.notes ?? []).map((n) => `<li>${escapeHtml(n)}</li>`).join('');
  return `<dl class="summary">${rows}</dl>
    ${runs ? `<div class="table-wrap"><table class="runs"><thead><tr><th scope="col">Run</th><th scope="col">Outcome</th>
      <th scope="col" class="num">Final loss</th><th scope="col" class="num">Val. loss</th><th scope="col" class="num">Val. accuracy</th></tr></thead>
      <tbody>${runs}</tbody></table></div>` : ''}
    ${notes ? `<ul class="notes">${notes}</ul>` : ''}`;
}

// What a job's page needs from the rest of the page (app.js).
//   me()                   who is signed in: {authEnabled, name, role}
//   jobCache               Map of fetched jobs, forgotten when a job's note or existence changes
//   forgetJob(id)          removes a deleted job from the page (cache, list, compare choices)
//   renderFollowUp(id)     question 4's note on the first job's page
//   runLabel(run)          a run's name in tables and legends
//   paintDots(root)        colours the init dots under root
//   chanceLoss(job)        the chart's chance line
export class JobView {
  constructor(id, context) {
    this.id = id;
    this.context = context;
    this.view = $('#view-job');
    this.chartBox = $('#job-chart');
    this.job = null;
    this.series = null;
    this.chart = null;
    this.watch = null;
    this.frame = 0;
    this.left = false;
    this.listeners = [];
    this.queueTimer = 0;
  }

  // How often a queued job's place in the queue is asked for again.
  static queuePollMs = 3000;

  // Shows the view for this job, empty, then loads the job and follows it live.
  open() {
    this.reset();
    this.bindControls();
    this.start();
  }

  // Stops following the job and releases the view's controls.
  leave() {
    this.left = true;
    clearTimeout(this.queueTimer);
    this.watch?.close();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.chart?.destroy();
    for (const [element, type, handler] of this.listeners) {
      element.removeEventListener(type, handler);
    }
  }

  // Nothing of the previous job stays on screen: its state badge least of all.
  reset() {
    const { id, view } = this;
    view.hidden = false;
    view.dataset.job = id;
    view.dataset.state = '';
    $('#job-title').textContent = `Job ${id}`;
    $('#job-state').textContent = '';
    $('#job-state').className = 'badge';
    $('#job-state').hidden = true;
    $('#job-error').hidden = true;
    $('#job-queue').hidden = true;
    $('#job-results').hidden = true;
    $('#job-cancel').hidden = true;
    $('#job-delete').hidden = true;
    $('#job-runs tbody').innerHTML = '';
    $('#job-meta').textContent = '';
    this.context.renderFollowUp(id);
    $('#job-notes').hidden = true;
    $('#job-notes').replaceChildren();
    $('#job-live').textContent = '';
    $('#job-chart-note').textContent = '';
    this.chartBox.replaceChildren();
    this.chartBox.dataset.steps = '0';
    document.title = `Job ${id} · Ablate`;
  }

  fail(message) {
    const box = $('#job-error');
    box.textContent = message;
    box.hidden = false;
  }

  // The chart's settings, read from its controls.
  static logScale() { return $('input[name="job-scale"]:checked').value === 'log'; }
  static clipping() { return $('input[name="job-clip"]').checked; }
  // The EMA weight of the smoothing slider: 0 (off) draws the raw curves only; above it each
  // run's training loss is drawn twice, raw and faint, then smoothed in its colour.
  static smoothing() { return Number($('#job-smooth').value); }

  // The job, then its runs from the watch stream, redrawn once per animation frame.
  async start() {
    const { id, context } = this;
    try {
      this.job = await api.getJob(id);
    } catch (error) {
      this.fail(error.status === 404 ? `There is no job ${id}.` : error.message);
      return;
    }
    if (this.left) return;
    const { job } = this;
    $('#job-title').textContent = `Job ${job.id}: ${job.name}`;
    document.title = `Job ${job.id}: ${job.name} · Ablate`;
    const m = job.spec?.model ?? {};
    const t = job.spec?.training ?? {};
    $('#job-meta').textContent = `${job.owner} · submitted ${formatTime(job.createdAt)} · `
      + `${m.depth}-layer MLP, width ${m.width}, ${t.steps} steps, lr ${t.lr}, momentum ${t.momentum}, batch ${t.batch}`;
    this.setState(job.state);
    this.showQueue(job);
    // Writing the note and tags: the job's owner or the class's instructor (or anyone without
    // users), as for deleting.
    renderNotes($('#job-notes'), job, this.mayEdit(), (saved) => {
      job.note = saved.note;
      job.tags = saved.tags;
      context.jobCache.delete(String(id));
    });
    this.series = new JobSeries(job.runs ?? []);
    this.chart = new LossChart(this.chartBox, {
      log: JobView.logScale(), clip: JobView.clipping(), chance: context.chanceLoss(job),
      xMax: Math.max(0, toNumber(job.spec?.training?.steps) - 1),
    });
    this.draw();
    this.watch = api.watchJob(id, {
      onUpdate: (update) => this.apply(update),
      onStatus: (status) => {
        $('#job-live').textContent = {
          live: '● live', ended: '', reconnecting: 'reconnecting…',
        }[status] ?? '';
      },
      onError: (message) => this.fail(message),
    });
  }

  // One update of the watch stream.
  apply(update) {
    const { job } = this;
    this.series.apply(update);
    if (update.runsStarted?.length && job.state === 'JOB_STATE_QUEUED') {
      this.setState('JOB_STATE_RUNNING');
    }
    if (update.jobFinished?.job) {
      Object.assign(job, update.jobFinished.job);
      this.setState(job.state);
      this.showResults();
    }
    this.schedule();
  }

  // While the job waits for a worker: how many runs of the queue start before it (runsAhead,
  // GetJob's alone), asked again every few seconds until a run of it starts.
  showQueue(fetched) {
    const note = $('#job-queue');
    const ahead = fetched.runsAhead;
    if (this.left || this.job.state !== 'JOB_STATE_QUEUED' || fetched.state !== 'JOB_STATE_QUEUED'
        || ahead === undefined) {
      note.hidden = true;
      return;
    }
    note.textContent = ahead === 0 ? 'waiting for a worker: its runs start next'
      : `waiting for a worker: ${ahead} ${ahead === 1 ? 'run of the queue starts' : 'runs of the queue start'} before it`;
    note.hidden = false;
    clearTimeout(this.queueTimer);
    this.queueTimer = setTimeout(async () => {
      try {
        this.showQueue(await api.getJob(this.id));
      } catch {
        note.hidden = true;  // the stream says what went wrong, if anything did
      }
    }, JobView.queuePollMs);
  }

  // The job's owner, the class's instructor, or anyone on a server without users.
  mayEdit() {
    const me = this.context.me();
    return !me.authEnabled || me.role === 'instructor' || this.job.owner === me.name;
  }

  setState(state) {
    this.job.state = state;
    const badge = $('#job-state');
    badge.textContent = stateName(state);
    badge.className = `badge state-${stateName(state)}`;
    badge.hidden = false;
    this.view.dataset.state = stateName(state);
    if (state !== 'JOB_STATE_QUEUED') {
      clearTimeout(this.queueTimer);
      $('#job-queue').hidden = true;
    }
    $('#job-cancel').hidden = jobEnded(state);
    // Deleting: an ended job, by whoever may edit it.
    $('#job-delete').hidden = !jobEnded(state) || !this.mayEdit();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frame = 0;
    if (this.left) return;
    const { chart, series, chartBox } = this;
    const smoothing = JobView.smoothing();
    const looks = runStyles(series.order.map((runId) => series.run(runId).init));
    const chartSeries = chartSeriesFor(series.order.map((runId, i) => ({
      label: this.context.runLabel(series.run(runId).summary),
      ...looks[i],
      lastEval: series.run(runId).summary.finalEval ?? series.lastEval(runId),
    })), smoothing > 0);
    chart.set(chartSeries,
      smoothColumns(series.chartData(JobView.logScale()), series.order.length, smoothing),
      smoothMarkers(series.markers(), smoothing > 0));
    chartBox.dataset.steps = String(series.totalSteps());
    chartBox.dataset.gaps = String(series.gaps);
    chartBox.dataset.duplicates = String(series.duplicates);
    $('#job-chart-note').textContent = clipNote(chart);
    this.renderRuns();
  }

  // One row per run: state, outcome, progress, rate, latest loss and accuracy, a CSV button.
  renderRuns() {
    const { series, job, context } = this;
    const total = toNumber(job.spec?.training?.steps);
    $('#job-runs tbody').innerHTML = series.order.map((runId) => {
      const r = series.run(runId);
      const s = r.summary;
      const lastEval = s.finalEval ?? series.lastEval(runId);
      const last = r.losses.length ? r.losses[r.losses.length - 1] : s.finalLoss;
      return `<tr data-run="${escapeHtml(runId)}" data-state="${stateName(s.state)}">
        <th scope="row"><span class="dot" data-init="${escapeHtml(r.init)}" aria-hidden="true"></span>${escapeHtml(context.runLabel(s))}</th>
        <td class="col-status"><span class="badge state-${stateName(s.state)}">${stateName(s.state)}</span></td>
        <td class="outcome">${escapeHtml(s.outcome || stateName(s.state))}${s.restartReason
          ? `<br><small class="hint">${escapeHtml(s.restartReason)}</small>` : ''}</td>
        <td class="num"><progress max="${total || 1}" value="${r.losses.length}" aria-label="steps done"></progress>
          ${r.losses.length.toLocaleString('en')}${total ? ` / ${total.toLocaleString('en')}` : ''}</td>
        <td class="num">${formatRate(series.stepsPerSecond(runId))}</td>
        <td class="num">${last === undefined ? '—' : formatLoss(last)}</td>
        <td class="num">${lastEval ? formatAccuracy(lastEval.accuracy) : '—'}</td>
        <td><button type="button" class="quiet small" data-csv="${escapeHtml(runId)}"
          title="Every step's loss with the validation results, as CSV">CSV</button></td></tr>`;
    }).join('');
    context.paintDots($('#job-runs'));
  }

  // The ended job's results: its manifest's summary, its files, its README.
  async showResults() {
    const { id, job } = this;
    const results = $('#job-results');
    results.hidden = false;
    const summaryBox = $('#job-summary');
    const filesBox = $('#job-files');
    const readmeBox = $('#job-readme');
    summaryBox.innerHTML = '<p class="hint">Loading the results…</p>';
    filesBox.innerHTML = '';
    readmeBox.innerHTML = '';
    let manifest = null;
    try {
      manifest = JSON.parse(await api.getArtifactText(id, 'manifest.json'));
    } catch (error) {
      summaryBox.innerHTML = `<p class="hint">${escapeHtml(
        job.state === 'JOB_STATE_FAILED' && job.error ? job.error : error.message)}</p>`;
      results.dataset.ready = 'true';
      return;
    }
    summaryBox.innerHTML = renderSummary(manifest);
    const files = Object.entries(manifest.files ?? {});
    const entries = [
      ...files.map(([name, f]) => ({ name, bytes: f.bytes })),
      { name: 'manifest.json' },
      { name: 'bundle.zip', all: true },
    ];
    filesBox.innerHTML = entries.map((f) => `<li><a class="button${f.all ? ' primary' : ''}"
        href="${api.artifactUrl(id, f.name)}" download="${escapeHtml(
      f.all ? `ablate-job-${id}.zip` : f.name)}">${f.all ? 'Download everything (zip)' : escapeHtml(f.name)}</a>
        ${f.bytes !== undefined ? `<span class="hint">${formatBytes(f.bytes)}</span>` : ''}</li>`).join('');
    try {
      readmeBox.innerHTML = renderMarkdown(await api.getArtifactText(id, 'README.md'));
    } catch (error) {
      readmeBox.textContent = error.message;
    }
    results.dataset.ready = 'true';
  }

  // The chart's and table's controls; leave() removes every listener added here.
  bindControls() {
    const on = (element, type, handler) => {
      element.addEventListener(type, handler);
      this.listeners.push([element, type, handler]);
    };
    const onScale = () => {
      if (!this.chart) return;
      this.chart.setLog(JobView.logScale());
      this.chart.setClip(JobView.clipping());
      this.draw();
    };
    for (const input of $$('input[name="job-scale"], input[name="job-clip"]')) {
      on(input, 'change', onScale);
    }
    on($('#job-smooth'), 'input', () => {
      const w = JobView.smoothing();
      $('#job-smooth-value').textContent = w > 0 ? w.toFixed(2) : 'off';
      if (this.chart) this.draw();
    });
    on($('#job-zoom-reset'), 'click', () => {
      if (this.chart) {
        this.chart.build();
        this.draw();
      }
    });
    on($('#job-runs'), 'click', (event) => this.downloadCsv(event.target.dataset?.csv));
    on($('#job-cancel'), 'click', () => this.cancel());
    on($('#job-delete'), 'click', () => this.remove());
  }

  // A run's steps and evaluations as a CSV file, fetched whole (not the chart's copy).
  async downloadCsv(runId) {
    if (!runId) return;
    try {
      const csv = trajectoryCsv(await api.getTrajectory(runId));
      const r = this.series.run(runId);
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      link.download = `job-${this.id}-run-${runId}-${r?.init ?? 'run'}.csv`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) {
      this.fail(error.message);
    }
  }

  async cancel() {
    $('#job-cancel').disabled = true;
    try {
      const response = await api.cancelJob(this.id);
      this.setState(response.job.state);
    } catch (error) {
      this.fail(error.message);
    } finally {
      $('#job-cancel').disabled = false;
    }
  }

  async remove() {
    const { id } = this;
    if (!window.confirm(`Delete job ${id} with its runs, losses and files? This cannot be undone.`)) return;
    $('#job-delete').disabled = true;
    try {
      await api.deleteJob(id);
      this.context.forgetJob(id);
      window.location.hash = '#/';
    } catch (error) {
      this.fail(error.message);
    } finally {
      $('#job-delete').disabled = false;
    }
  }
}
