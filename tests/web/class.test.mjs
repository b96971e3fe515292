// The class view in a real browser: two classes, 30 students' lab jobs in cs101 (one of them,
// s07's, with the wrong uniform bounds), a few in cs102. The instructor sees the groups drawn as
// median curves with bands and every student's row, s07's flagged; a student sees the groups and
// their own row; the other class sees only itself. Also on the job page: a run's colour follows
// its init, the smoothing slider (off by default, raw kept faint), the zoom reset and the CSV
// download; and the form refuses an empty init set. Screenshots of the class view at desktop and
// phone width. Run by run.sh (ctest: web.browser).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { api, launchBrowser, startServer, waitForJob } from './server.mjs';

const OUT = process.env.ABLATE_OUT_DIR || '.';
const STUDENTS = Array.from({ length: 30 }, (_, i) => `s${String(i + 1).padStart(2, '0')}`);
const PLANTED = 's07';  // uniform with bounds ±0.1: it trains instead of blowing up
const STEPS = 20;
// Lab 1's network (uniform's blow-up needs its width and depth), 20 steps.
const labJob = (owner, seed) => ({
  spec: {
    name: 'lab-01',
    training: { steps: STEPS, evalEvery: 10 },
    runs: [
      owner === PLANTED ? { init: 'uniform', uniformLow: -0.1, uniformHigh: 0.1, weightSeed: seed }
        : { init: 'uniform', weightSeed: seed },
      { init: 'xavier', weightSeed: seed + 1 },
      { init: 'kaiming', weightSeed: seed + 2 },
    ],
  },
});

let server;
let browser;
const problems = [];
const jobsOf = {};  // owner -> job id

function watchForProblems(p) {
  p.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${m.text()}`);
    }
  });
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  p.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
}

// A page signed in as `user` (the session cookie, as the sign-in dialog sets it). The browser
// has one cookie jar: one user's page at a time.
async function pageAs(user, viewport = { width: 1280, height: 900 }) {
  const p = await browser.context.newPage();
  await p.setViewportSize(viewport);
  watchForProblems(p);
  const response = await p.request.post(`${server.url}/api/v1/session`, {
    headers: { Authorization: `Bearer ${server.tokens[user]}` },
  });
  assert.equal(response.status(), 200);
  return p;
}

async function openClassView(p) {
  await p.goto(`${server.url}/#/class`);
  await p.waitForSelector('#view-class[data-loading="false"]');
  await p.waitForSelector('#class-chart canvas');
}

describe('Ablate class view', () => {
  before(async () => {
    server = await startServer({
      binary: process.env.ABLATE_SERVER,
      webDir: process.env.ABLATE_WEB_DIR,
      admin: [
        ['add-class', 'cs101', '--instructor', 'carol'],
        ['add-students', 'cs101', ...STUDENTS],
        ['add-class', 'cs102', '--instructor', 'dan'],
        ['add-students', 'cs102', 'eve', 'fay'],
      ],
    });
    const submit = async (owner, i) => {
      const { job } = await api(server.url, '/api/v1/jobs',
        { method: 'POST', body: labJob(owner, 2000 + 10 * i), token: server.tokens[owner] });
      jobsOf[owner] = job.id;
    };
    await Promise.all([...STUDENTS, 'eve', 'fay'].map(submit));
    for (const [owner, id] of Object.entries(jobsOf)) {
      const job = await waitForJob(server.url, id, 300000, server.tokens[owner]);
      assert.equal(job.state, 'JOB_STATE_SUCCEEDED', `${owner}'s job ${id}: ${job.error}`);
    }
    browser = await launchBrowser(chromium);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows the instructor the groups with bands and every student, the planted run flagged', async () => {
    const p = await pageAs('carol');
    await openClassView(p);
    assert.match(await p.textContent('#class-meta'), /^Class cs101: 30 jobs, 90 ended runs\./);
    const groups = await p.$$eval('#class-groups tbody tr', (rows) => rows.map((r) => ({
      key: r.dataset.key, label: r.querySelector('th').textContent.trim(),
      runs: Number(r.cells[1].textContent), diverged: Number(r.cells[2].textContent),
    })));
    const byLabel = Object.fromEntries(groups.map((g) => [g.label, g]));
    assert.deepEqual(Object.keys(byLabel).sort(),
      ['kaiming', 'uniform U[-0.1, 0.1]', 'uniform U[-0.5, 0.5]', 'xavier']);
    assert.equal(byLabel.xavier.runs, 30);
    assert.equal(byLabel['uniform U[-0.5, 0.5]'].runs, 29);
    assert.equal(byLabel['uniform U[-0.5, 0.5]'].diverged, 29);
    assert.equal(byLabel['uniform U[-0.1, 0.1]'].diverged, 0);
    // One band per group drawn: uPlot draws the band between each group's 10 % and 90 % series.
    assert.equal(await p.getAttribute('#class-chart', 'data-groups'), '4');
    // The legend lists the medians only, each in its init's colour.
    const legend = await p.$$eval('#class-chart .u-legend .u-series:not([hidden]) .u-label',
      (els) => els.map((e) => e.textContent));
    assert.ok(legend.includes('xavier (30 runs)'), legend.join(' | '));
    // Distributions: median [10–90 %] for xavier's final loss.
    assert.match(await p.textContent('#class-groups tr[data-key="init=xavier"] td:nth-of-type(3)'),
      /^[\d.e+-]+ \[[\d.e+-]+–[\d.e+-]+\]$/);

    const rows = await p.$$eval('#class-students tbody tr', (trs) => trs.map((tr) => ({
      owner: tr.dataset.owner, flagged: tr.classList.contains('flagged'),
      flags: tr.cells[4].textContent.trim(),
    })));
    assert.equal(rows.length, 30);
    const flagged = rows.filter((r) => r.flagged);
    assert.deepEqual(flagged.map((r) => r.owner), [PLANTED]);
    assert.match(flagged[0].flags,
      /uniform U\[-0\.1, 0\.1\] · seed 2060 · steps 20 · eval every 10: did not diverge, while 29 of the class's 29 other uniform runs did — check its bounds/);

    // A diverged run's cell names what its loss became, as its trajectory recorded it (an
    // overflow is not "NaN").
    const s01 = await api(server.url, `/api/v1/jobs/${jobsOf.s01}`, { token: server.tokens.s01 });
    const uniform = s01.runs.find((r) => r.spec.init === 'uniform');
    const trajectory = await api(server.url, `/api/v1/runs/${uniform.id}/trajectory`,
      { token: server.tokens.s01 });
    const at = trajectory.steps.indexOf(trajectory.firstNonfiniteStep);
    const recorded = Number(trajectory.losses[at]);
    assert.ok(!Number.isFinite(recorded), `s01's uniform loss at ${at}: ${trajectory.losses[at]}`);
    const kind = Number.isNaN(recorded) ? 'NaN' : recorded > 0 ? '+∞' : '−∞';
    const cell = await p.textContent('#class-students tr[data-owner="s01"] td:nth-of-type(3)');
    assert.ok(cell.includes(`: ${kind} at ${trajectory.firstNonfiniteStep}`), cell);

    const shot = join(OUT, 'class-view-desktop.png');
    await p.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot of the class view (instructor, 1280 px): ${shot}`);

    // Zoom: a drag narrows the x range; the reset shows every step again.
    const range = () => p.getAttribute('#class-chart', 'data-x-range');
    assert.equal(await range(), `0–${STEPS - 1}`);
    const box = await p.locator('#class-chart .u-over').boundingBox();
    await p.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await p.mouse.down();
    await p.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await p.mouse.up();
    await p.waitForFunction((full) => document.querySelector('#class-chart').dataset.xRange !== full,
      `0–${STEPS - 1}`);
    await p.click('#class-zoom-reset');
    await p.waitForFunction((full) => document.querySelector('#class-chart').dataset.xRange === full,
      `0–${STEPS - 1}`);
    await p.close();
  });

  it('fits a phone: the class view at 390 px has no sideways scroll', async () => {
    const p = await pageAs('carol', { width: 390, height: 844 });
    await openClassView(p);
    const width = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the class view is ${width} px wide at 390 px`);
    const shot = join(OUT, 'class-view-phone.png');
    await p.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot of the class view (instructor, 390 px): ${shot}`);
    // The first screenful, and the planted student's block, as a phone shows them.
    await p.screenshot({ path: join(OUT, 'class-view-phone-top.png') });
    await p.locator(`#class-students tr[data-owner="${PLANTED}"]`).scrollIntoViewIfNeeded();
    await p.screenshot({ path: join(OUT, 'class-view-phone-flag.png') });
    await p.close();
  });

  it('follows the system dark setting: light ink on a dark ground, the same layout', async () => {
    const p = await pageAs('carol');
    await p.emulateMedia({ colorScheme: 'dark' });
    await openClassView(p);
    // Relative luminance of a computed rgb() colour, 0 (black) to 1 (white).
    const luminance = (rgb) => {
      const [r, g, b] = rgb.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((c) => {
        const v = c / 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const colours = await p.evaluate(() => {
      const root = getComputedStyle(document.documentElement);
      const flag = document.querySelector('#class-students .flag');
      return { ground: root.backgroundColor, ink: root.color,
               flag: flag ? getComputedStyle(flag).color : null };
    });
    const ground = luminance(colours.ground), ink = luminance(colours.ink);
    assert.ok(ground < 0.05, `dark mode's ground is ${colours.ground}`);
    assert.ok((ink + 0.05) / (ground + 0.05) >= 7, `ink ${colours.ink} on ${colours.ground}`);
    assert.ok(colours.flag && luminance(colours.flag) > 0.2, `the flag is ${colours.flag}`);
    await p.screenshot({ path: join(OUT, 'class-view-dark.png') });
    await p.close();
  });

  it('shows a student the groups and only their own row; the other class only itself', async () => {
    const p = await pageAs('s03');
    await openClassView(p);
    assert.equal(await p.locator('#class-groups tbody tr').count(), 4);
    assert.deepEqual(await p.$$eval('#class-students tbody tr', (trs) => trs.map((t) => t.dataset.owner)),
      ['s03']);
    await p.close();
    const q = await pageAs('dan');
    await openClassView(q);
    assert.match(await q.textContent('#class-meta'), /^Class cs102: 2 jobs, 6 ended runs\./);
    assert.equal(await q.locator('#class-students tbody tr').count(), 2);
    await q.close();
  });

  it('colours runs by init, labels them with seed and differences, smooths and downloads CSV', async () => {
    const p = await pageAs(PLANTED);
    const id = jobsOf[PLANTED];
    await p.goto(`${server.url}/#/jobs/${id}`);
    await p.waitForSelector('#job-results[data-ready="true"]');
    // Run labels carry the seed and what differs from the lab; dots take the init's colour.
    const runs = await p.$$eval('#job-runs tbody th', (ths) => ths.map((th) => ({
      label: th.textContent.trim(), color: getComputedStyle(th.querySelector('.dot')).backgroundColor,
    })));
    assert.deepEqual(runs.map((r) => r.label), [
      'uniform U[-0.1, 0.1] · seed 2060 · steps 20 · eval every 10',
      'xavier · seed 2061 · steps 20 · eval every 10',
      'kaiming · seed 2062 · steps 20 · eval every 10',
    ]);
    assert.deepEqual(runs.map((r) => r.color),
      ['rgb(213, 94, 0)', 'rgb(0, 114, 178)', 'rgb(0, 158, 115)']);

    // Smoothing: off by default (each run's training and validation curves); on, each run's
    // training loss is drawn raw (faint) and smoothed, its validation as it is.
    const series = () => p.$$eval('#job-chart .u-legend .u-series .u-label', (els) => els.map((e) => e.textContent));
    assert.equal(await p.inputValue('#job-smooth'), '0');
    assert.equal((await series()).length, 7);  // step + 3 runs' training + 3 runs' validation
    await p.fill('#job-smooth', '0.8');
    await p.waitForFunction(() => document.querySelectorAll('#job-chart .u-legend .u-series').length === 10);
    const smoothed = await series();
    assert.ok(smoothed.includes('xavier · seed 2061 · steps 20 · eval every 10 · training (raw)'), smoothed.join(' | '));
    assert.ok(smoothed.includes('xavier · seed 2061 · steps 20 · eval every 10 · training'), smoothed.join(' | '));
    assert.equal(smoothed.filter((l) => / · validation/.test(l)).length, 3, smoothed.join(' | '));
    assert.equal(await p.textContent('#job-smooth-value'), '0.80');
    await p.click('#job-zoom-reset');
    await p.waitForSelector('#job-chart canvas');
    await p.screenshot({ path: join(OUT, 'job-view-smoothed.png'), fullPage: false });

    // CSV of a run's steps with its evaluations.
    const [download] = await Promise.all([
      p.waitForEvent('download'),
      p.click('#job-runs tbody tr:nth-of-type(2) button[data-csv]'),
    ]);
    assert.match(download.suggestedFilename(), new RegExp(`^job-${id}-run-\\d+-xavier\\.csv$`));
    const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
    assert.equal(csv[0], 'step,loss,val_loss,val_accuracy');
    assert.equal(csv.length, 1 + STEPS + 1);  // every step, then the evaluation after the last
    assert.match(csv[11], /^10,[\d.e-]+,[\d.e-]+,[\d.e-]+$/);  // step 10 carries its evaluation
    assert.match(csv[STEPS + 1], new RegExp(`^${STEPS},,[\\d.e-]+,[\\d.e-]+$`));
    await p.close();
  });

  it('refuses an empty init set in the form, before sending anything', async () => {
    const p = await pageAs('s01');
    const posts = [];
    p.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/v1/jobs')) posts.push(r.url()); });
    await p.goto(`${server.url}/#/`);
    await p.waitForSelector('#jobs-list[data-ready]', { state: 'attached' });
    for (const box of await p.$$('input[name="init"]:checked')) await box.uncheck();
    await p.click('#submit-button');
    const note = p.locator('.checks ~ .field-error, [data-field="runs"] .field-error, .field-error');
    await note.first().waitFor();
    assert.match(await note.first().textContent(), /^Tick at least one init/);
    assert.equal(await p.getByText('Tick at least one init').filter({ visible: true }).count(), 1);  // shown once
    assert.deepEqual(posts, []);
    await p.close();
  });

  it('a job page for a job that does not exist shows no stale badge', async () => {
    const p = await pageAs('carol');
    await p.goto(`${server.url}/#/jobs/${jobsOf.s01}`);
    await p.waitForSelector('#job-state:not([hidden])');
    problems.length = 0;
    await p.goto(`${server.url}/#/jobs/999999`);
    await p.waitForSelector('#job-error:not([hidden])');
    assert.equal(await p.textContent('#job-error'), 'There is no job 999999.');
    assert.equal(await p.locator('#job-state').isVisible(), false);
    // The 404 of the unknown job is the point of this test.
    for (let i = problems.length - 1; i >= 0; i--) {
      if (problems[i].includes('/api/v1/jobs/999999')) problems.splice(i, 1);
    }
    await p.close();
  });

  it('lets the owner write a note and tags, filters the list by tag, shows others no form', async () => {
    let p = await pageAs('s02');
    await p.goto(`${server.url}/#/jobs/${jobsOf.s02}`);
    await p.waitForSelector('#notes-form');
    await p.fill('#notes-text', 'xavier crawls\nkaiming trains');
    await p.fill('#notes-tags', 'week-3, baseline');
    await p.click('#notes-save');
    await p.waitForFunction(() => document.querySelector('#notes-status')?.textContent === 'Saved.');
    assert.equal(await p.textContent('#job-note'), 'xavier crawls\nkaiming trains');
    assert.deepEqual(await p.locator('#job-tags .tag').allTextContents(), ['baseline', 'week-3']);
    // A tag's link lists the jobs carrying it: s02's job alone.
    await p.click('#job-tags .tag >> text=week-3');
    await p.waitForFunction(() => document.querySelector('#q-tag')?.value === 'week-3'
      && document.querySelector('#jobs-list')?.dataset.loading === 'false'
      && document.querySelectorAll('#jobs-list .job-row').length === 1);
    assert.equal(await p.getAttribute('#jobs-list .job-row', 'data-job'), String(jobsOf.s02));
    await p.close();
    // Another student reads the note and tags but gets no form (the server refuses them too).
    p = await pageAs('s03');
    await p.goto(`${server.url}/#/jobs/${jobsOf.s02}`);
    await p.waitForSelector('#job-notes:not([hidden]) #job-note');
    assert.equal(await p.locator('#notes-form').count(), 0);
    assert.match(await p.textContent('#job-note'), /kaiming trains/);
    await p.close();
  });

  it('logged no errors, CSP violations or exceptions', () => {
    assert.deepEqual(problems, []);
  });
});
