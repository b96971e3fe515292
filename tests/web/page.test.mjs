// The page in a real browser against a real server: submit from the form, watch the chart grow
// live, read the outcome, summary and README, download losses.json, filter and page the jobs
// list, compare runs of two jobs, check it fits 360 px and works from the keyboard, and switch a
// running job's chart scale and cancel it from its page.
// Run by run.sh (ctest: web.browser) with ABLATE_SERVER, ABLATE_WEB_DIR and ABLATE_OUT_DIR set.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { api, launchBrowser, startServer, waitForJob } from './server.mjs';

const OUT = process.env.ABLATE_OUT_DIR || '.';
// A short lab job: lab 1's model, so that uniform init really blows up, but 400 steps.
const STEPS = 400;

let server;
let browser;
let page;
const problems = [];  // console errors, CSP violations, uncaught exceptions, HTTP errors
let expectRefusals = false;  // while the validation test provokes 400s on purpose
let jobId;            // the job submitted from the page

function watchForProblems(p) {
  p.on('console', (m) => {
    // HTTP errors are checked below, with their URL.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${m.text()}`);
    }
  });
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  p.on('response', (r) => {
    const refused = expectRefusals && r.status() === 400 && r.url().endsWith('/api/v1/jobs');
    if (r.status() >= 400 && !refused) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
}

describe('Ablate page', () => {
  before(async () => {
    server = await startServer({
      binary: process.env.ABLATE_SERVER, webDir: process.env.ABLATE_WEB_DIR, workers: 2,
    });
    browser = await launchBrowser(chromium);
    page = await browser.context.newPage();
    watchForProblems(page);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows the lab defaults and puts the server\'s validation message next to the field', async () => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#jobs-list[data-ready]', { state: 'attached' });
    const value = (id) => page.inputValue(id);
    assert.equal(await value('#f-depth'), '12');
    assert.equal(await value('#f-width'), '256');
    assert.equal(await value('#f-steps'), '1000');
    assert.equal(await value('#f-lr'), '0.001');
    assert.equal(await value('#f-momentum'), '0.9');
    assert.equal(await value('#f-batch'), '64');
    const inits = await page.$$eval('input[name="init"]:checked', (els) => els.map((e) => e.value));
    assert.deepEqual(inits, ['uniform', 'xavier', 'kaiming']);

    expectRefusals = true;
    await page.fill('#f-depth', '0');
    await page.click('#submit-button');
    const note = page.locator('#f-depth ~ .field-error');
    await note.waitFor();
    // The server's sentence (core/config.cc) next to the depth field, the field named as its
    // label names it, not by its path in the spec; and only there, not again above the form.
    assert.equal(await note.textContent(), 'Depth (layers) must be between 1 and 64 (got 0).');
    assert.equal(await page.getAttribute('#f-depth', 'aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'f-depth');
    assert.equal(await page.locator('#form-error').isVisible(), false);
    assert.equal(await page.getByText('must be between 1 and 64').filter({ visible: true }).count(), 1);

    await page.fill('#f-depth', '12');
    await page.fill('#f-lr', '-1');
    await page.click('#submit-button');
    await page.locator('#f-lr ~ .field-error').waitFor();
    assert.match(await page.locator('#f-lr ~ .field-error').textContent(), /^Learning rate must be/);
    assert.equal(await page.locator('#f-depth ~ .field-error').count(), 0);  // the old one is gone

    expectRefusals = false;
    await page.click('button[type="reset"]');
    assert.equal(await value('#f-lr'), '0.001');
  });

  it('runs a job submitted from the page: the chart grows live, then outcome, summary and README', async () => {
    await page.fill('#f-name', 'browser test');
    await page.fill('#f-owner', 'ada');
    await page.fill('#f-steps', String(STEPS));
    await page.click('#submit-button');
    await page.waitForURL(/#\/jobs\/\d+$/);
    jobId = page.url().match(/#\/jobs\/(\d+)$/)[1];

    // Sample the steps drawn until the job ends: they must rise in several stages while it runs
    // (drawn as they arrive, not at the end).
    const samples = [];
    let screenshotTaken = false;
    const deadline = Date.now() + 120000;
    for (;;) {
      const [steps, state] = await page.evaluate(() => [
        Number(document.querySelector('#job-chart').dataset.steps || 0),
        document.querySelector('#view-job').dataset.state,
      ]);
      if (state === 'running' || state === 'queued') {
        if (samples[samples.length - 1] !== steps) samples.push(steps);
        if (!screenshotTaken && steps > STEPS) {
          await page.screenshot({ path: join(OUT, 'job-view-live.png') });
          console.log(`screenshot of the job view while it runs: ${join(OUT, 'job-view-live.png')}`);
          screenshotTaken = true;
        }
      } else if (state) {
        break;
      }
      assert.ok(Date.now() < deadline, 'the job did not end in time');
      await page.waitForTimeout(50);
    }
    const growing = samples.filter((s) => s > 0);
    assert.ok(growing.length >= 3, `the chart grew in only ${growing.length} stages: ${samples}`);
    for (let i = 1; i < samples.length; i++) assert.ok(samples[i] > samples[i - 1], `${samples}`);

    await page.waitForSelector('#job-results[data-ready="true"]');
    assert.equal(await page.textContent('#job-state'), 'succeeded');
    const job = await api(server.url, `/api/v1/jobs/${jobId}`);
    const chart = await page.$eval('#job-chart', (el) => ({ ...el.dataset }));
    const recorded = job.runs.reduce((n, r) => n + r.stepsDone, 0);
    assert.equal(Number(chart.steps), recorded, 'every recorded step is drawn');
    assert.equal(chart.gaps, '0');
    assert.equal(chart.duplicates, '0');

    // Per-run status and outcome, as the server reports them.
    const rows = await page.$$eval('#job-runs tbody tr', (trs) => trs.map((tr) => ({
      run: tr.querySelector('th').textContent.trim(),
      outcome: tr.querySelector('.outcome').textContent.trim(),
    })));
    // Each run's label: its init, its seed and what differs from lab 1 (here the steps).
    assert.deepEqual(rows.map((r) => r.run),
      [`uniform · seed 101 · steps ${STEPS}`, `xavier · seed 102 · steps ${STEPS}`, `kaiming · seed 103 · steps ${STEPS}`]);
    assert.deepEqual(rows.map((r) => r.outcome), job.runs.map((r) => r.outcome));
    assert.match(rows[0].outcome, /^(diverged|flatlined) at step \d+$/);  // lab 1's lesson

    // The results summary comes from manifest.json; the README is rendered, not shown raw.
    const manifest = await api(server.url, `/api/v1/jobs/${jobId}/artifacts/manifest.json`);
    const summary = await page.$$eval('#job-summary dt code', (els) => els.map((e) => e.textContent));
    for (const key of ['steps_to_nan_uniform', 'final_loss_xavier', 'final_loss_kaiming']) {
      assert.ok(summary.includes(key), `summary shows ${key}`);
      assert.ok(key in manifest.results_summary);
    }
    assert.match(await page.textContent('#job-readme h1'), new RegExp(`^Job ${jobId}: browser test`));
    assert.ok(await page.locator('#job-readme h2').count() >= 3);
    assert.equal(await page.locator('#job-readme').evaluate((el) => el.textContent.includes('## ')), false);
    const files = await page.$$eval('#job-files a', (as) => as.map((a) => a.getAttribute('href')));
    for (const name of ['job.json', 'losses.json', 'loss_curves.png', 'README.md', 'manifest.json', 'bundle.zip']) {
      assert.ok(files.some((f) => f.endsWith(`/${name}`)), `a download button for ${name}`);
    }

    const shot = join(OUT, 'job-view.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot of the job view: ${shot}`);
  });

  it('downloads losses.json with every step of every run', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#job-files a[href$="/losses.json"]'),
    ]);
    assert.equal(download.suggestedFilename(), 'losses.json');
    const losses = JSON.parse(readFileSync(await download.path(), 'utf8'));
    assert.equal(losses.schema, 'ablate.losses/1');
    assert.equal(String(losses.job_id), jobId);
    assert.deepEqual(losses.runs.map((r) => r.init), ['uniform', 'xavier', 'kaiming']);
    const job = await api(server.url, `/api/v1/jobs/${jobId}`);
    for (const [i, run] of losses.runs.entries()) {
      assert.equal(run.losses.length, job.runs[i].stepsDone);
      // The same numbers as the stored trajectory (float32 both ways; NaN is null in the file).
      const t = await api(server.url, `/api/v1/runs/${job.runs[i].id}/trajectory`);
      assert.deepEqual(run.losses.map((v) => (v === null ? null : Math.fround(v))),
        t.losses.map((v) => (typeof v === 'string' ? null : Math.fround(v))));
    }
    assert.equal(losses.runs[2].losses.length, STEPS);  // kaiming ran every step
  });

  it('filters the jobs list by owner, status, init and name, and pages through it', async () => {
    // More jobs, quick ones: two by bob (kaiming only), and 22 by pager to fill two pages.
    const tiny = (name, runs) => ({
      name, model: { depth: 2, width: 8, inputDim: 8 }, data: { labelDims: 4 },
      training: { steps: 5, batch: 8 }, runs,
    });
    const bob = [];
    for (let i = 0; i < 2; i++) {
      bob.push((await api(server.url, '/api/v1/jobs', {
        method: 'POST', body: { owner: 'bob', spec: tiny(`bob kaiming only ${i}`, [{ init: 'kaiming' }]) },
      })).job.id);
    }
    for (let i = 0; i < 22; i++) {
      await api(server.url, '/api/v1/jobs', {
        method: 'POST', body: { owner: 'pager', spec: tiny(`page filler ${i}`, []) },
      });
    }
    for (const id of bob) await waitForJob(server.url, id);

    await page.goto(`${server.url}/#/`);
    await page.waitForSelector('#jobs-list[data-loading="false"]', { state: 'attached' });
    const shown = () => page.$$eval('.job-row', (rows) => rows.map((r) => ({
      id: r.dataset.job, owner: r.dataset.owner,
    })));
    // Sets one filter and waits for the list that answers it.
    const filter = async (selector, value) => {
      const seq = Number(await page.getAttribute('#jobs-list', 'data-seq') || 0);
      if (selector.startsWith('select')) await page.selectOption(selector, value);
      else await page.fill(selector, value);
      await page.waitForFunction((s) => {
        const list = document.querySelector('#jobs-list');
        return Number(list.dataset.seq) > s && list.dataset.loading === 'false';
      }, seq);
    };

    await filter('#q-owner', 'bob');
    let rows = await shown();
    assert.deepEqual(rows.map((r) => r.id), [...bob].reverse(), 'newest first, bob only');

    await filter('#q-name', 'only 0');
    rows = await shown();
    assert.deepEqual(rows.map((r) => r.id), [bob[0]]);

    await filter('#q-name', '');
    await filter('select#q-init', 'uniform');
    assert.equal((await shown()).length, 0);
    assert.equal(await page.textContent('#jobs-status'), 'No jobs match these filters.');

    await filter('select#q-init', '');
    await filter('#q-owner', 'ada');
    await filter('select#q-state', 'succeeded');
    rows = await shown();
    assert.deepEqual(rows.map((r) => r.id), [jobId]);
    await filter('select#q-state', 'running');
    assert.equal((await shown()).length, 0);
    await filter('select#q-state', '');

    // Paging: 22 of pager's jobs, 20 a page.
    await filter('#q-owner', 'pager');
    rows = await shown();
    assert.equal(rows.length, 20);
    assert.ok(rows.every((r) => r.owner === 'pager'));
    assert.equal(await page.isDisabled('#page-newer'), true);
    await page.click('#page-older');
    await page.waitForFunction(() => document.querySelector('#page-label').textContent === 'Page 2');
    const second = await shown();
    assert.equal(second.length, 2);
    assert.ok(Number(second[0].id) < Number(rows[19].id), 'older jobs on page 2');
    assert.equal(await page.isDisabled('#page-older'), true);
    await page.click('#page-newer');
    await page.waitForFunction(() => document.querySelector('#page-label').textContent === 'Page 1');
    assert.deepEqual(await shown(), rows);
    await filter('#q-owner', '');
  });

  it('overlays chosen runs of different jobs in the compare view', async () => {
    // The choice survives reloading the list with other filters.
    const pick = async (owner, job, init) => {
      if (await page.inputValue('#q-owner') !== owner) {
        const seq = Number(await page.getAttribute('#jobs-list', 'data-seq') || 0);
        await page.fill('#q-owner', owner);
        await page.waitForFunction((s) => Number(document.querySelector('#jobs-list').dataset.seq) > s, seq);
      }
      await page.locator(`.job-row[data-job="${job}"] input[data-init="${init}"]`).check();
    };
    const bobJob = (await api(server.url, '/api/v1/jobs?owner=bob&page_size=1')).jobs[0].id;
    await pick('ada', jobId, 'kaiming');
    await pick('ada', jobId, 'xavier');
    await pick('bob', bobJob, 'kaiming');
    assert.equal(await page.textContent('#compare-count'), '3');
    await page.click('#compare-open');
    await page.waitForSelector('#compare-chart[data-ready="true"]');
    assert.equal(await page.getAttribute('#compare-chart', 'data-series'), '3');
    const legend = await page.$$eval('#compare-chart .u-legend .u-series th',
      (ths) => ths.map((t) => t.textContent.trim()).slice(1));
    // Each run's training loss (by its label: init, seed, what differs), then its validation
    // loss with its last accuracy.
    assert.equal(legend.length, 6);
    assert.deepEqual(legend.map((l) => l.replace(/ · .*/, '')),
      [`#${jobId} kaiming`, `#${jobId} xavier`, `#${bobJob} kaiming`,
        `#${jobId} kaiming`, `#${jobId} xavier`, `#${bobJob} kaiming`]);
    assert.match(legend[0], new RegExp(`^#${jobId} kaiming · seed 103 · steps ${STEPS} · training$`));
    const names = legend.slice(0, 3).map((l) => l.replace(/ · training$/, ''));
    legend.slice(3).forEach((text, i) => {
      assert.equal(text.slice(0, names[i].length), names[i]);
      assert.match(text.slice(names[i].length), /^ · validation \(acc [0-9.]+ %\)$/);
    });
    const rows = await page.$$eval('#compare-runs tbody tr', (trs) => trs.length);
    assert.equal(rows, 3);
    // The chart is a canvas; check that it drew something in the runs' colours.
    const drawn = await page.$eval('#compare-chart canvas', (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let coloured = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && !(d[i] === d[i + 1] && d[i + 1] === d[i + 2])) coloured++;
      return coloured;
    });
    assert.ok(drawn > 500, `the compare chart drew ${drawn} coloured pixels`);
    await page.click('input[name="compare-scale"][value="linear"]', { force: true });
    await page.waitForFunction(() => document.querySelector('#compare-chart').dataset.scale === 'linear');
    const compareShot = join(OUT, 'compare-view.png');
    await page.screenshot({ path: compareShot, fullPage: true });
    console.log(`screenshot of the compare view: ${compareShot}`);

    await page.click(`#compare-runs button[data-remove$=":${(await api(server.url, `/api/v1/jobs/${bobJob}`)).runs[0].id}"]`);
    await page.waitForSelector('#compare-chart[data-ready="true"][data-series="2"]');
  });

  it('fits a 360 px wide screen and is usable from the keyboard', async () => {
    const narrow = await browser.context.newPage();
    watchForProblems(narrow);
    await narrow.setViewportSize({ width: 360, height: 740 });
    for (const hash of ['#/', `#/jobs/${jobId}`, '#/compare', '#/class']) {
      await narrow.goto(`${server.url}/${hash}`);
      await narrow.waitForLoadState('networkidle');
      const width = await narrow.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 360, `${hash} is ${width} px wide at a 360 px viewport`);
    }
    await narrow.goto(`${server.url}/#/jobs/${jobId}`);
    await narrow.waitForSelector('#job-results[data-ready="true"]');
    const shot = join(OUT, 'job-view-360.png');
    await narrow.screenshot({ path: shot, fullPage: false });
    console.log(`screenshot of the job view at 360 px: ${shot}`);
    await narrow.close();

    // Keyboard: from the top of the home page, Tab reaches the form, the submit button, a job
    // link and a run's compare checkbox; nothing uses a positive tabindex.
    await page.bringToFront();
    await page.goto(`${server.url}/`);
    await page.reload();
    await page.waitForSelector('#jobs-list[data-ready]', { state: 'attached' });
    assert.equal(await page.$$eval('[tabindex]', (els) => els.filter((e) => e.tabIndex > 0).length), 0);
    const reached = new Set();
    for (let i = 0; i < 80; i++) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => {
        const el = document.activeElement;
        return el.id || el.getAttribute('href') || el.className || el.tagName;
      }));
    }
    for (const id of ['f-name', 'f-depth', 'submit-button', 'q-owner']) {
      assert.ok(reached.has(id), `Tab reaches #${id} (reached: ${[...reached].join(' ')})`);
    }
    assert.ok([...reached].some((r) => /^#\/jobs\/\d+$/.test(r)), 'Tab reaches a job link');
    assert.ok([...reached].some((r) => /^pick-/.test(r)), 'Tab reaches a compare checkbox');

    // Every form control has a label.
    const unlabelled = await page.$$eval('input, select', (els) => els
      .filter((e) => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
      .map((e) => e.id || e.name));
    assert.deepEqual(unlabelled, []);
  });

  it('switches the job chart\'s scale and cancels a running job from its page', async () => {
    const long = (await api(server.url, '/api/v1/jobs', {
      method: 'POST',
      body: { spec: { name: 'cancel from the page', training: { steps: 50000 } } },
    })).job;
    try {
      await page.goto(`${server.url}/#/jobs/${long.id}`);
      await page.waitForFunction(() => Number(document.querySelector('#job-chart').dataset.steps) > 0);
      assert.equal(await page.getAttribute('#job-chart', 'data-scale'), 'log');
      const scale = (value) => `label:has(input[name="job-scale"][value="${value}"])`;
      await page.click(scale('linear'));
      await page.waitForFunction(() => document.querySelector('#job-chart').dataset.scale === 'linear');
      await page.click(scale('log'));
      await page.waitForFunction(() => document.querySelector('#job-chart').dataset.scale === 'log');
      await page.click('#job-cancel');
      await page.waitForFunction(() => document.querySelector('#view-job').dataset.state === 'cancelled');
      assert.equal(await page.isHidden('#job-cancel'), true, 'an ended job offers no cancel');
    } finally {
      // Whatever failed above, the job must not hold a worker from the tests below.
      await api(server.url, `/api/v1/jobs/${long.id}:cancel`, { method: 'POST', body: {} });
    }
    const ended = await waitForJob(server.url, long.id);
    assert.equal(ended.state, 'JOB_STATE_CANCELLED');
  });

  it('says where a queued job stands in the queue until it starts', async () => {
    // Both workers busy with the first job's first two runs; its third waits, and so does the
    // second's run. The second's owner has not had a turn, so its run is next. Kaiming runs
    // only: a uniform run would diverge at once and free its worker.
    const kaiming = [{ init: 'kaiming' }, { init: 'kaiming' }, { init: 'kaiming' }];
    const post = (name, owner) => api(server.url, '/api/v1/jobs', {
      method: 'POST', body: { owner, spec: { name, training: { steps: 50000 }, runs: kaiming } },
    });
    const first = (await post('holds the workers', 'qa')).job;
    let second;
    try {
      const deadline = Date.now() + 30000;
      for (;;) {
        const job = await api(server.url, `/api/v1/jobs/${first.id}`);
        if (job.runs.filter((r) => r.state === 'RUN_STATE_RUNNING').length === 2) break;
        assert.ok(Date.now() < deadline, 'the first job did not start two runs');
        await page.waitForTimeout(50);
      }
      second = (await post('waits', 'qb')).job;
      assert.equal((await api(server.url, `/api/v1/jobs/${first.id}`)).runsAhead, 1);
      await page.goto(`${server.url}/#/jobs/${second.id}`);
      await page.waitForSelector('#job-queue:not([hidden])');
      assert.equal(await page.textContent('#job-queue'), 'waiting for a worker: its runs start next');
      // Cancelling the first job frees both workers: the second starts and the note goes.
      await api(server.url, `/api/v1/jobs/${first.id}:cancel`, { method: 'POST', body: {} });
      await page.waitForFunction(() => document.querySelector('#view-job').dataset.state === 'running');
      await page.waitForSelector('#job-queue', { state: 'hidden' });
    } finally {
      await api(server.url, `/api/v1/jobs/${first.id}:cancel`, { method: 'POST', body: {} });
      if (second) await api(server.url, `/api/v1/jobs/${second.id}:cancel`, { method: 'POST', body: {} });
    }
    await waitForJob(server.url, first.id);
    if (second) await waitForJob(server.url, second.id);
  });

  it('logged no errors, CSP violations or exceptions', () => {
    assert.deepEqual(problems, []);
  });
});
