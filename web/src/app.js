// Ablate's page: four views behind the URL's hash.
//   #/                          submit form and the class's jobs (filters, pages, run picker)
//   #/jobs/{id}                 one job, live: chart, runs, then results, README and files
//                               (job_view.js)
//   #/compare?runs=J:R,J:R,...  runs (job J's run R) from any jobs on one chart
//   #/class                     the class's runs grouped with bands; per-student rows
import * as api from './api.js';
import { LossChart } from './chart.js';
import { ClassChart } from './class_chart.js';
import { initColor, runStyles } from './colors.js';
import {
  escapeHtml, formatLoss, formatPercent, formatTime, jobEnded, nonFiniteName, stateName, toNumber,
} from './format.js';
import { JobView, clipNote } from './job_view.js';
import {
  FollowUps, MAX_RUNS_PER_JOB, deeperRequest, labOptionsProblem, maxSeeds,
} from './lab_options.js';
import {
  alignTables, chartSeriesFor, trajectoryTable, validationTable,
} from './series.js';

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
const PAGE_SIZE = 20;

// Chart defaults the page cannot learn elsewhere: chance is ln(classes), and the API's only
// class count is 2.
const chanceLoss = (job) => Math.log(toNumber(job?.spec?.model?.classes) || 2);

// ---------------------------------------------------------------------------------------------
// Runs chosen for the compare view, kept across reloads: "jobId:runId" → {label, ...}.

const selection = {
  key: 'ablate.compare',
  items: new Map(),
  load() {
    try {
      for (const item of JSON.parse(localStorage.getItem(this.key) ?? '[]')) {
        this.items.set(`${item.jobId}:${item.runId}`, item);
      }
    } catch { /* a damaged entry: start empty */ }
  },
  save() {
    localStorage.setItem(this.key, JSON.stringify([...this.items.values()]));
    const n = this.items.size;
    const count = $('#compare-count');
    count.textContent = String(n);
    count.hidden = n === 0;
    $('#compare-bar').hidden = n === 0;
    $('#compare-bar-text').textContent = `${n} run${n === 1 ? '' : 's'} chosen`;
    $('#compare-open').href = compareHref([...this.items.keys()]);
    $('a[data-nav="compare"]').href = compareHref([...this.items.keys()]);
  },
  toggle(item, on) {
    const k = `${item.jobId}:${item.runId}`;
    if (on) this.items.set(k, item); else this.items.delete(k);
    this.save();
  },
  has(jobId, runId) { return this.items.has(`${jobId}:${runId}`); },
};

const compareHref = (keys) => (keys.length ? `#/compare?runs=${keys.join(',')}` : '#/compare');

// Jobs already fetched, for the compare view's labels: ended jobs do not change.
const jobCache = new Map();
async function cachedJob(id) {
  if (!jobCache.has(id)) jobCache.set(id, api.getJob(id));
  try {
    const job = await jobCache.get(id);
    if (!jobEnded(job.state)) jobCache.delete(id);  // its runs may still change
    return job;
  } catch (error) {
    jobCache.delete(id);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Routing.

let leaveView = () => {};

// event: the hashchange that led here (none on the first load). Keyboard and screen-reader users
// land on the new view's heading, not on the link that has just disappeared.
function route(event) {
  leaveView();
  leaveView = () => {};
  const hash = location.hash || '#/';
  const [path, query = ''] = hash.slice(1).split('?');
  const params = new URLSearchParams(query);
  for (const view of $$('.view')) view.hidden = true;
  for (const link of $$('nav a[data-nav]')) link.removeAttribute('aria-current');
  let match;
  if ((match = path.match(/^\/jobs\/(\d+)$/))) {
    showJob(match[1]);
  } else if (path === '/class') {
    $('a[data-nav="class"]').setAttribute('aria-current', 'page');
    showClass();
  } else if (path === '/compare') {
    $('a[data-nav="compare"]').setAttribute('aria-current', 'page');
    showCompare(params.get('runs'));
  } else {
    $('a[data-nav="home"]').setAttribute('aria-current', 'page');
    // #/?tag=T (a tag's link) lists the jobs carrying T.
    if (params.has('tag')) $('#filters').elements.tag.value = params.get('tag');
    showHome();
  }
  if (event) {
    const heading = $('.view:not([hidden]) h1');
    heading?.setAttribute('tabindex', '-1');
    heading?.focus();
  }
}

// ---------------------------------------------------------------------------------------------
// Home: submit form.

function fieldValue(form, name) {
  const input = form.elements[name];
  return input ? input.value.trim() : '';
}

// A number for the request, the text itself when it is not one (so that the server names the
// field), or undefined when empty (the server's default applies).
function numeric(text) {
  if (text === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
}

function buildRequest(form) {
  const inits = $$('input[name="init"]:checked', form).map((c) => c.value);
  const low = numeric(fieldValue(form, 'uniform_low'));
  const high = numeric(fieldValue(form, 'uniform_high'));
  const runs = inits.map((init) => {
    const run = { init };
    if (init === 'uniform') {
      if (low !== undefined) run.uniformLow = low;
      if (high !== undefined) run.uniformHigh = high;
    }
    return run;
  });
  const clean = (object) => Object.fromEntries(
    Object.entries(object).filter(([, v]) => v !== undefined));
  return {
    owner: fieldValue(form, 'owner'),
    spec: {
      name: fieldValue(form, 'name'),
      model: clean({
        depth: numeric(fieldValue(form, 'depth')),
        width: numeric(fieldValue(form, 'width')),
        inputDim: numeric(fieldValue(form, 'input_dim')),
      }),
      data: clean({
        trainSize: numeric(fieldValue(form, 'train_size')),
        valSize: numeric(fieldValue(form, 'val_size')),
        labelDims: numeric(fieldValue(form, 'label_dims')),
        seed: numeric(fieldValue(form, 'seed')),
      }),
      training: clean({
        steps: numeric(fieldValue(form, 'steps')),
        lr: numeric(fieldValue(form, 'lr')),
        momentum: numeric(fieldValue(form, 'momentum')),
        batch: numeric(fieldValue(form, 'batch')),
        evalEvery: numeric(fieldValue(form, 'eval_every')),
        stopOnNonfinite: form.elements.stop_on_nonfinite.checked,
      }),
      runs,
      seeds: numeric(fieldValue(form, 'seeds')),
      varyDataSeed: form.elements.vary_data_seed.checked || undefined,
    },
  };
}

// The form control a server message is about: its first word is the field's path
// ("model.depth must be ...", "runs[1].init must be ..."), or, for the JSON parser's
// messages, the field's name appears in it.
function fieldFor(form, message) {
  const path = message.split(/\s/)[0].replace(/^runs\[\d+\]\./, '').replace(/^runs\[\d+\]$/, 'runs');
  const byPath = {
    init: 'runs', uniform_low: 'uniform_low', uniform_high: 'uniform_high', runs: 'runs',
  }[path] ?? path;
  let target = $(`[data-field="${CSS.escape(byPath)}"]`, form);
  if (!target) {
    const snake = (s) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    target = $$('[data-field]', form).find((el) => {
      const last = el.dataset.field.split('.').pop();
      return new RegExp(`\\b(${last}|${snake(last)})\\b`).test(snake(message));
    }) ?? null;
  }
  return target;
}

function clearFormErrors(form) {
  $('#form-error').hidden = true;
  for (const note of $$('.field-error', form)) note.remove();
  for (const el of $$('[aria-invalid]', form)) {
    el.removeAttribute('aria-invalid');
    // Back to describing the input by its allowed range alone.
    const range = el.closest('.field')?.querySelector('.range-hint');
    if (range) el.setAttribute('aria-describedby', range.id); else el.removeAttribute('aria-describedby');
  }
}

// `target`: the control the message is about; by default the one the server's message names.
function showFormError(form, message, target = fieldFor(form, message)) {
  // The server names a field by its path in the spec ("training.lr must be …"); the student
  // knows it by the label beside the input ("Learning rate must be …").
  const path = message.split(/\s/)[0];
  const label = target?.closest('.field')?.querySelector('label')?.textContent.trim();
  if (label && /^[a-z_]+(\[\d+\])?(\.[a-z_]+)*$/.test(path) && path.includes('.')) {
    message = label + message.slice(path.length);
  }
  const box = $('#form-error');
  // Shown once: beside its field when there is one, else above the form.
  box.textContent = message;
  box.hidden = Boolean(target);
  if (!target) return;
  const note = document.createElement('p');
  note.className = 'field-error';
  note.id = `error-${target.id || 'runs'}`;
  note.textContent = message;
  const holder = target.closest('.field') ?? target;
  holder.append(note);
  const control = target.matches('input, select') ? target : $('input', target);
  control.setAttribute('aria-invalid', 'true');
  const range = control.closest('.field')?.querySelector('.range-hint');
  control.setAttribute('aria-describedby', range ? `${note.id} ${range.id}` : note.id);
  if (target.closest('details')) target.closest('details').open = true;
  control.focus();
}

// The seeds' allowed range follows the ticked inits (runs × seeds ≤ the server's limit).
function updateSeedsRange(form) {
  const runs = $$('input[name="init"]:checked', form).length;
  const max = maxSeeds(runs);
  form.elements.seeds.max = String(max);
  $('#f-seeds-range').textContent = runs > 1
    ? `1–${max}: ${runs} inits × seeds ≤ ${MAX_RUNS_PER_JOB} runs`
    : `1–${max}`;
}

function setUpForm() {
  const form = $('#submit-form');
  const owner = localStorage.getItem('ablate.owner');
  if (owner) form.elements.owner.value = owner;
  updateSeedsRange(form);
  for (const box of $$('input[name="init"]', form)) {
    box.addEventListener('change', () => updateSeedsRange(form));
  }
  form.addEventListener('reset', () => {
    clearFormErrors(form);
    setTimeout(() => updateSeedsRange(form));
    // The owner is the student's, not a lab default.
    setTimeout(() => {
      form.elements.owner.value = me.authEnabled ? me.name : localStorage.getItem('ablate.owner') ?? '';
    });
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    const button = $('#submit-button');
    button.disabled = true;
    button.textContent = 'Submitting…';
    try {
      const request = buildRequest(form);
      // With no runs the server would fill in lab 1's three: not what an empty tick list says.
      if (request.spec.runs.length === 0) {
        throw new Error('Tick at least one init: the job trains one run per ticked init, and with none it has no runs.');
      }
      const verifyDepth = form.elements.verify_depth.checked;
      const problem = labOptionsProblem({
        seeds: fieldValue(form, 'seeds'), runs: request.spec.runs.length,
        varyDataSeed: form.elements.vary_data_seed.checked, verifyDepth,
        depth: fieldValue(form, 'depth'),
      });
      if (problem) {
        showFormError(form, problem.message, form.elements[problem.field]);
        return;
      }
      const response = await api.submitJob(request);
      if (request.owner) localStorage.setItem('ablate.owner', request.owner);
      // Question 4: the same job at depth 24, submitted once this one has succeeded.
      if (verifyDepth) followUps.add(response.job.id, deeperRequest(request));
      location.hash = `#/jobs/${response.job.id}`;
    } catch (error) {
      showFormError(form, error.message);
    } finally {
      button.disabled = false;
      button.textContent = 'Submit job';
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Home: the jobs list.

const listState = { tokens: [''], page: 0, seq: 0 };

function filters() {
  const form = $('#filters');
  return {
    owner: form.elements.owner.value.trim(),
    states: form.elements.states.value ? [form.elements.states.value] : [],
    init: form.elements.init.value,
    name_contains: form.elements.name_contains.value.trim(),
    tag: form.elements.tag.value.trim(),
  };
}

async function loadJobs() {
  const seq = ++listState.seq;
  const status = $('#jobs-status');
  const list = $('#jobs-list');
  status.textContent = 'Loading…';
  list.dataset.loading = 'true';
  try {
    const response = await api.listJobs({
      ...filters(), page_size: PAGE_SIZE, page_token: listState.tokens[listState.page],
    });
    if (seq !== listState.seq) return;  // a newer request superseded this one
    const jobs = response.jobs ?? [];
    for (const job of jobs) if (jobEnded(job.state)) jobCache.set(String(job.id), Promise.resolve(job));
    listState.tokens[listState.page + 1] = response.nextPageToken || undefined;
    renderJobs(sortJobs(jobs, $('#filters').elements.sort.value));
    status.textContent = jobs.length
      ? `${jobs.length} job${jobs.length === 1 ? '' : 's'} on this page.`
      : 'No jobs match these filters.';
    $('#page-newer').disabled = listState.page === 0;
    $('#page-older').disabled = !response.nextPageToken;
    $('#page-label').textContent = `Page ${listState.page + 1}`;
    list.dataset.ready = 'true';
  } catch (error) {
    if (seq === listState.seq) status.textContent = error.message;
  } finally {
    if (seq === listState.seq) {
      list.dataset.seq = String(seq);  // for tests: this request's results are shown
      list.dataset.loading = 'false';
    }
  }
}

// A job's best (lowest) finite final training loss (`key` 'final') or last validation loss
// ('val') over its runs; undefined when no run has one. As `ablate list --sort`.
export function jobSortValue(job, key) {
  let best;
  for (const run of job.runs ?? []) {
    const value = toNumber(key === 'final' ? run.finalLoss : run.finalEval?.loss);
    if (Number.isFinite(value) && (best === undefined || value < best)) best = value;
  }
  return best;
}

// The page's jobs ordered by `key` ('newest' keeps the server's order); jobs without a value
// last, ties in the server's order.
function sortJobs(jobs, key) {
  if (key !== 'final' && key !== 'val') return jobs;
  return jobs.map((job, i) => ({ job, i, v: jobSortValue(job, key) }))
    .sort((a, b) => (a.v === undefined) - (b.v === undefined) || (a.v ?? 0) - (b.v ?? 0) || a.i - b.i)
    .map((e) => e.job);
}

// The server's label ("kaiming · seed 7 · lr 0.0001": init, seed and what differs from the
// lab's defaults); the init alone for a run reported without one.
function runLabel(run) {
  return run.label || run.spec?.init || '?';
}

function renderJobs(jobs) {
  const list = $('#jobs-list');
  list.innerHTML = jobs.map((job) => {
    const runs = job.runs ?? [];
    const chips = runs.map((run, i) => {
      const label = runLabel(run);
      const id = `pick-${job.id}-${run.id}`;
      return `<li class="chip"><input type="checkbox" id="${id}" data-job="${escapeHtml(job.id)}"
          data-run="${escapeHtml(run.id)}" data-label="${escapeHtml(label)}"
          data-name="${escapeHtml(job.name)}" data-init="${escapeHtml(run.spec?.init ?? '')}" ${selection.has(job.id, run.id) ? 'checked' : ''}>
        <label for="${id}"><span class="dot" data-init="${escapeHtml(run.spec?.init ?? '')}" aria-hidden="true"></span>${escapeHtml(label)}
          <span class="outcome">${escapeHtml(run.outcome || stateName(run.state))}</span></label></li>`;
    }).join('');
    return `<article class="job-row" data-job="${escapeHtml(job.id)}" data-owner="${escapeHtml(job.owner)}">
      <div class="job-main">
        <a href="#/jobs/${escapeHtml(job.id)}" class="job-link">#${escapeHtml(job.id)} ${escapeHtml(job.name)}</a>
        <span class="badge state-${stateName(job.state)}">${stateName(job.state)}</span>
      </div>
      <div class="job-sub">${escapeHtml(job.owner)} · ${formatTime(job.createdAt)} ·
        ${escapeHtml(String(job.spec?.model?.depth ?? '?'))}×${escapeHtml(String(job.spec?.model?.width ?? '?'))},
        ${escapeHtml(String(job.spec?.training?.steps ?? '?'))} steps, lr ${escapeHtml(String(job.spec?.training?.lr ?? '?'))}</div>
      ${job.tags?.length ? `<ul class="tags" aria-label="Tags of job ${escapeHtml(job.id)}">${job.tags.map((t) =>
        `<li><a class="tag" href="#/?tag=${encodeURIComponent(t)}">${escapeHtml(t)}</a></li>`).join('')}</ul>` : ''}
      ${job.note ? `<p class="job-note">${escapeHtml(job.note)}</p>` : ''}
      <ul class="chips" aria-label="Runs of job ${escapeHtml(job.id)} (tick to compare)">${chips}</ul>
    </article>`;
  }).join('');
  paintDots(list);
}

function setUpList() {
  let timer = null;
  const reload = () => {
    listState.tokens = [''];
    listState.page = 0;
    loadJobs();
  };
  $('#filters').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(reload, 250);
  });
  $('#filters').addEventListener('submit', (e) => { e.preventDefault(); reload(); });
  $('#page-newer').addEventListener('click', () => {
    listState.page = Math.max(0, listState.page - 1);
    loadJobs();
  });
  $('#page-older').addEventListener('click', () => {
    if (!listState.tokens[listState.page + 1]) return;
    listState.page++;
    loadJobs();
  });
  $('#jobs-list').addEventListener('change', (event) => {
    const box = event.target;
    if (!box.matches('input[type="checkbox"][data-run]')) return;
    selection.toggle({
      jobId: box.dataset.job, runId: box.dataset.run, label: box.dataset.label,
      jobName: box.dataset.name, init: box.dataset.init,
    }, box.checked);
  });
  $('#compare-clear').addEventListener('click', () => {
    selection.items.clear();
    selection.save();
    for (const box of $$('#jobs-list input[data-run]')) box.checked = false;
  });
}

function showHome() {
  $('#view-home').hidden = false;
  document.title = 'Ablate';
  loadJobs();
}

// ---------------------------------------------------------------------------------------------
// Question 4's second job (lab_options.js): a note on the first job's page, then a link.

const followUps = new FollowUps({
  api, storage: localStorage, locks: navigator.locks,
  onChange: (firstId) => {
    if (!$('#view-job').hidden && $('#view-job').dataset.job === firstId) renderFollowUp(firstId);
  },
});

function renderFollowUp(jobId) {
  const note = $('#job-follow-up');
  const entry = followUps.get(jobId);
  note.hidden = !entry;
  note.dataset.state = entry?.state ?? '';
  if (!entry) {
    note.replaceChildren();
    return;
  }
  const depth = entry.request.spec.model.depth;
  if (entry.state === 'waiting') {
    note.textContent = `Question 4: when this job has succeeded, this page submits the same job at `
      + `depth ${depth} as a second job (keep a tab of it open until then).`;
  } else if (entry.state === 'submitted') {
    note.innerHTML = `Question 4: the same job at depth ${depth} is `
      + `<a href="#/jobs/${encodeURIComponent(entry.deeperId)}">job ${escapeHtml(entry.deeperId)}</a>.`;
  } else {
    note.textContent = `Question 4: ${entry.message}`;
  }
}

// ---------------------------------------------------------------------------------------------
// One job, live (job_view.js).

// A deleted job leaves the page at once: its row in the list (shown until the list's next
// request answers) and its runs chosen for comparison.
function forgetJob(id) {
  jobCache.delete(String(id));
  const rows = `#jobs-list .job-row[data-job="${CSS.escape(String(id))}"]`;
  for (const row of document.querySelectorAll(rows)) row.remove();
  const before = selection.items.size;
  for (const [key, item] of selection.items) {
    if (String(item.jobId) === String(id)) selection.items.delete(key);
  }
  if (selection.items.size !== before) selection.save();
}

function showJob(id) {
  const page = new JobView(id, {
    me: () => me, jobCache, forgetJob, renderFollowUp, runLabel, paintDots, chanceLoss,
  });
  leaveView = () => page.leave();
  page.open();
}

// ---------------------------------------------------------------------------------------------
// Compare.

// A compared run's init: from its job once loaded, else from the list where it was ticked.
function compareInit(l) {
  return l.run?.spec?.init ?? selection.items.get(l.key)?.init ?? (l.label ?? '').split(' ')[1] ?? '';
}

function showCompare(runsParam) {
  const view = $('#view-compare');
  view.hidden = false;
  document.title = 'Compare runs · Ablate';
  const box = $('#compare-chart');
  box.dataset.ready = 'false';
  box.replaceChildren();
  const keys = (runsParam ? runsParam.split(',') : [...selection.items.keys()])
    .filter((k) => /^\d+:\d+$/.test(k));
  $('#compare-empty').hidden = keys.length > 0;
  $('#compare-card').hidden = keys.length === 0;
  $('#compare-runs tbody').innerHTML = '';
  if (!keys.length) return;

  let chart = null;
  let left = false;
  let loaded = null;  // [{key, label, run, job, trajectory}]
  const scale = () => $('input[name="compare-scale"]:checked').value === 'log';
  const clipping = () => $('input[name="compare-clip"]').checked;

  const draw = () => {
    const log = scale();
    const parts = loaded.map((l) => trajectoryTable(l.trajectory, log));
    const vals = loaded.map((l) => validationTable(l.trajectory.evals ?? [], log));
    const data = alignTables([...parts.map((p) => p.table), ...vals]);
    const looks = runStyles(loaded.map(compareInit));
    const defs = chartSeriesFor(loaded.map((l, i) => {
      const evals = l.trajectory.evals ?? [];
      return { label: l.label, ...looks[i], lastEval: l.run?.finalEval ?? evals[evals.length - 1] };
    }));
    const markers = loaded.map((l, i) => ({
      nonFinite: parts[i].nonFinite,
      nonFiniteLoss: parts[i].nonFiniteLoss,
      flatline: l.run?.flatlineStep !== undefined ? toNumber(l.run.flatlineStep) : null,
      flatlineLoss: null,
      peak: parts[i].peak,
    }));
    chart.set(defs, data, markers);
    $('#compare-chart-note').textContent = clipNote(chart);
  };

  // The chart needs only the trajectories when the runs' labels are known (runs ticked in the
  // list carry theirs): the jobs, for the table's outcomes and the flatline markers, load
  // alongside and fill in when they come. A bare link waits for its jobs' labels.
  const load = async () => {
    const t0 = performance.now();
    loaded = keys.map((key) => {
      const [jobId, runId] = key.split(':');
      const picked = selection.items.get(key);
      return {
        key, jobId, runId, job: null, run: null, trajectory: null,
        label: picked?.label ? `#${jobId} ${picked.label}` : null,
      };
    });
    const jobsLoaded = Promise.all(loaded.map(async (l) => {
      l.job = await cachedJob(l.jobId);
      l.run = (l.job.runs ?? []).find((r) => String(r.id) === l.runId) ?? null;
      if (!l.run) throw new Error(`Job ${l.jobId} has no run ${l.runId}.`);
      l.label = `#${l.jobId} ${runLabel(l.run)}`;
    }));
    const needJobs = loaded.some((l) => l.label === null);
    try {
      await Promise.all([
        ...loaded.map(async (l) => { l.trajectory = await api.getTrajectory(l.runId); }),
        ...(needJobs ? [jobsLoaded] : []),
      ]);
    } catch (error) {
      $('#compare-empty').hidden = false;
      $('#compare-empty').textContent = error.message;
      return;
    }
    if (left) return;
    const t1 = performance.now();
    chart = new LossChart(box, { log: scale(), clip: clipping(), chance: Math.LN2 });
    draw();
    renderTable();
    // Measured for the benchmark: from the view's start to the chart drawn.
    const t2 = performance.now();
    box.dataset.ms = (t2 - t0).toFixed(1);
    box.dataset.fetchMs = (t1 - t0).toFixed(1);
    box.dataset.drawMs = (t2 - t1).toFixed(1);
    box.dataset.series = String(loaded.length);
    box.dataset.ready = 'true';
    try {
      await jobsLoaded;
    } catch (error) {
      $('#compare-empty').hidden = false;
      $('#compare-empty').textContent = error.message;
      return;
    }
    if (left) return;
    chart.chance = Math.max(...loaded.map((l) => chanceLoss(l.job)));
    draw();
    renderTable();
    box.dataset.complete = 'true';
  };

  const renderTable = () => {
    $('#compare-runs tbody').innerHTML = loaded.map((l, i) => `<tr data-key="${l.key}">
      <th scope="row"><span class="dot" data-init="${escapeHtml(compareInit(l))}" aria-hidden="true"></span>${escapeHtml(l.label)}</th>
      <td class="col-job">${l.job ? `<a href="#/jobs/${escapeHtml(l.jobId)}">${escapeHtml(l.job.name)}</a>` : `#${escapeHtml(l.jobId)}`}</td>
      <td class="outcome">${l.run ? escapeHtml(l.run.outcome || stateName(l.run.state)) : '…'}</td>
      <td class="num">${toNumber(l.trajectory.stepsDone).toLocaleString('en')}</td>
      <td class="num">${l.run?.finalLoss === undefined ? '—' : formatLoss(l.run.finalLoss)}</td>
      <td><button type="button" class="quiet small" data-remove="${l.key}" aria-label="Remove ${escapeHtml(l.label)}" title="Remove from the comparison">✕</button></td></tr>`).join('');
    paintDots($('#compare-runs'));
  };

  const onScale = () => {
    if (!chart) return;
    chart.setLog(scale());
    chart.setClip(clipping());
    draw();
  };
  const scaleInputs = $$('input[name="compare-scale"], input[name="compare-clip"]');
  for (const input of scaleInputs) input.addEventListener('change', onScale);
  const onRemove = (event) => {
    const key = event.target.dataset?.remove;
    if (!key) return;
    selection.items.delete(key);
    selection.save();
    location.hash = compareHref(keys.filter((k) => k !== key));
  };
  $('#compare-runs').addEventListener('click', onRemove);
  leaveView = () => {
    left = true;
    chart?.destroy();
    for (const input of scaleInputs) input.removeEventListener('change', onScale);
    $('#compare-runs').removeEventListener('click', onRemove);
  };
  load();
}

// ---------------------------------------------------------------------------------------------
// Signing in (a server with users): who we are, the token prompt, signing out.

// The server's answer to "who am I": {authEnabled, name, className, role}; {} until known.
let me = {};

// ---------------------------------------------------------------------------------------------
// The class view.

// "0.45 [0.23–0.69]": median and 10–90 % of a Distribution; "—" without values.
function distribution(d, format = formatLoss) {
  const count = toNumber(d?.count ?? 0);
  if (!count) return '—';
  if (count === 1) return format(d.median);
  return `${format(d.median)} <span class="range">[${format(d.q10)}–${format(d.q90)}]</span>`;
}

function classRunCell(run) {
  let result;
  if (run.firstNonfiniteStep !== undefined && run.firstNonfiniteStep !== null) {
    result = `${nonFiniteName(run.firstNonfiniteLoss)} at ${run.firstNonfiniteStep}`;
  } else if (run.finalLoss !== undefined) {
    result = formatLoss(run.finalLoss) +
      (run.valAccuracy !== undefined ? ` · ${formatPercent(run.valAccuracy)}` : '');
  } else {
    result = stateName(run.state);
  }
  return `<span class="class-run"><span class="dot" data-init="${escapeHtml(run.init)}" aria-hidden="true"></span>` +
    `<a href="#/jobs/${escapeHtml(run.jobId)}" title="${escapeHtml(run.label)}">${escapeHtml(run.label || run.init)}</a>: ${escapeHtml(result)}</span>`;
}

// Dots take their init's colour from the one table (colors.js); set through the CSSOM, which
// the page's Content-Security-Policy allows (inline style attributes it does not).
function paintDots(root) {
  for (const dot of $$('.dot[data-init]', root)) dot.style.background = initColor(dot.dataset.init);
}

function showClass() {
  const view = $('#view-class');
  view.hidden = false;
  document.title = 'Class view · Ablate';
  let left = false;
  let chart = null;
  const load = async () => {
    $('#class-error').hidden = true;
    $('#class-meta').textContent = 'Loading…';
    view.dataset.loading = 'true';
    try {
      const cls = await api.getClassView({ nameContains: $('#class-name').value.trim() });
      if (left) return;
      const groups = cls.groups ?? [];
      const students = cls.students ?? [];
      $('#class-meta').textContent = `${cls.className ? `Class ${cls.className}` : 'Every job'}: ` +
        `${cls.jobs} job${cls.jobs === 1 ? '' : 's'}, ${cls.runs} ended run${cls.runs === 1 ? '' : 's'}` +
        `${cls.truncated ? ' (the newest jobs only)' : ''}.`;
      chart ??= new ClassChart($('#class-chart'));
      chart.set(groups);
      $('#class-chart-note').textContent = chart.clip === null ? ''
        : `The y axis stops at ${formatLoss(chart.clip)} (10 × chance) so that the groups that train `
          + 'stay readable; the table below gives the outcome of those that blew up.';
      $('#class-groups tbody').innerHTML = groups.map((g) => `<tr data-key="${escapeHtml(g.key)}">
        <th scope="row"><span class="dot" data-init="${escapeHtml(g.init)}" aria-hidden="true"></span>${escapeHtml(g.label)}</th>
        <td class="num">${g.runs?.length ?? 0}</td><td class="num">${g.diverged ?? 0}</td>
        <td>${distribution(g.finalLoss)}</td><td>${distribution(g.valLoss)}</td>
        <td>${distribution(g.valAccuracy, formatPercent)}</td>
        <td>${distribution(g.firstNonfiniteStep, (v) => String(Math.round(toNumber(v))))}</td></tr>`).join('');
      const instructor = !me.authEnabled || me.role === 'instructor';
      $('#class-students-hint').textContent = instructor
        ? 'Each student\'s latest job. A flag marks a run off the class\'s envelope.'
        : 'Your latest job, against the class\'s envelope. Your classmates\' rows are for the instructor.';
      $('#class-students tbody').innerHTML = students.map((st) => `<tr data-owner="${escapeHtml(st.owner)}"
          class="${st.flags?.length ? 'flagged' : ''}">
        <th scope="row">${escapeHtml(st.owner)}</th>
        <td><a href="#/jobs/${escapeHtml(st.jobId)}">#${escapeHtml(st.jobId)} ${escapeHtml(st.jobName)}</a></td>
        <td class="num">${escapeHtml(st.jobs)}</td>
        <td>${(st.runs ?? []).map(classRunCell).join('<br>')}</td>
        <td>${(st.flags ?? []).map((f) => `<p class="flag">⚑ ${escapeHtml(f)}</p>`).join('')}</td></tr>`).join('');
      paintDots(view);
      view.dataset.loading = 'false';
    } catch (error) {
      if (left) return;
      $('#class-meta').textContent = '';
      $('#class-error').textContent = error.message;
      $('#class-error').hidden = false;
      view.dataset.loading = 'false';
    }
  };
  let timer = null;
  const onInput = () => { clearTimeout(timer); timer = setTimeout(load, 250); };
  const onSubmit = (e) => { e.preventDefault(); load(); };
  const onReset = () => chart?.reset();
  $('#class-filters').addEventListener('input', onInput);
  $('#class-filters').addEventListener('submit', onSubmit);
  $('#class-zoom-reset').addEventListener('click', onReset);
  load();
  leaveView = () => {
    left = true;
    clearTimeout(timer);
    $('#class-filters').removeEventListener('input', onInput);
    $('#class-filters').removeEventListener('submit', onSubmit);
    $('#class-zoom-reset').removeEventListener('click', onReset);
    chart?.destroy();
    $('#class-chart').replaceChildren();
  };
}

function setMe(who) {
  me = who ?? {};
  const box = $('#who');
  box.hidden = !me.authEnabled;
  $('#who-text').textContent = me.authEnabled
    ? `signed in as ${me.name} (${me.className}, ${me.role})` : '';
  // Under a token the server records the token's user as the owner.
  const owner = $('#submit-form').elements.owner;
  if (me.authEnabled) owner.value = me.name;
  owner.readOnly = Boolean(me.authEnabled);
  document.body.dataset.signedIn = me.authEnabled ? me.name : '';
}

// Shows the token form until the server accepts a token; resolves then.
function promptForToken() {
  const dialog = $('#signin');
  const form = $('#signin-form');
  const input = $('#signin-token');
  const error = $('#signin-error');
  error.hidden = true;
  input.value = '';
  return new Promise((resolve) => {
    const onSubmit = async (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      $('#signin-button').disabled = true;
      try {
        setMe(await api.signIn(token));
        form.removeEventListener('submit', onSubmit);
        dialog.removeEventListener('cancel', keepOpen);
        dialog.close();
        resolve();
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
      } finally {
        $('#signin-button').disabled = false;
      }
    };
    const keepOpen = (event) => event.preventDefault();  // Escape: nothing works without it
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('cancel', keepOpen);
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
}

// Resolves once the server has said who we are (or could not).
function setUpSession() {
  api.setTokenPrompt(promptForToken);
  $('#sign-out').addEventListener('click', async () => {
    try { await api.signOut(); } finally { window.location.reload(); }
  });
  return api.getSession().then(setMe).catch(() => { /* the views say what failed */ });
}

// ---------------------------------------------------------------------------------------------

const sessionKnown = setUpSession();
selection.load();
setUpForm();
followUps.resume();
setUpList();
selection.save();
window.addEventListener('hashchange', route);
// The first view waits for the session: a job's page drawn before it would offer a student the
// note form and Delete of another's job (the server refuses them, but the page should not offer).
sessionKnown.then(() => route());
