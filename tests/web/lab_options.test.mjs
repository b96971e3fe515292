// The submit form's lab options in a real browser against a real server: a bad seeds value is
// refused with one sentence beside the field and nothing is submitted; seeds = 2 with "check
// question 4 at depth 24" submits the lab job, then, once it has succeeded, the same job at
// depth 24 as a second job, with a reload of the page in between (the follow-up survives it
// and is submitted once).
// Run by run.sh (ctest: web.browser) with ABLATE_SERVER and ABLATE_WEB_DIR set.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { api, launchBrowser, startServer, waitForJob } from './server.mjs';

// Long enough that the page is reloaded while the first job still runs.
const STEPS = 300;

let server;
let browser;
let page;
const problems = [];

const listJobs = async () => (await api(server.url, '/api/v1/jobs?page_size=100')).jobs ?? [];

describe('Lab options on the submit form', () => {
  before(async () => {
    server = await startServer({
      binary: process.env.ABLATE_SERVER, webDir: process.env.ABLATE_WEB_DIR, workers: 2,
    });
    browser = await launchBrowser(chromium);
    page = await browser.context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#jobs-list[data-ready]', { state: 'attached' });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows the seeds range the server allows, following the ticked inits', async () => {
    assert.equal(await page.textContent('#f-seeds-range'), '1–5: 3 inits × seeds ≤ 16 runs');
    await page.uncheck('input[name="init"][value="uniform"]');
    assert.equal(await page.textContent('#f-seeds-range'), '1–8: 2 inits × seeds ≤ 16 runs');
    await page.check('input[name="init"][value="uniform"]');
    assert.equal(await page.getAttribute('#f-seeds', 'max'), '5');
  });

  it('refuses a bad seeds value with one sentence beside the field, and submits nothing', async () => {
    for (const bad of ['6', '0', '2.5']) {
      await page.fill('#f-seeds', bad);
      await page.click('#submit-button');
      const note = page.locator('#f-seeds ~ .field-error');
      await note.waitFor();
      assert.equal(await note.textContent(),
        `Seeds per init must be a whole number from 1 to 5 (got “${bad}”): each of the 3 ticked `
        + 'inits trains once per seed, and a job holds at most 16 runs.');
      assert.equal(await page.getAttribute('#f-seeds', 'aria-invalid'), 'true');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'f-seeds');
      // Once: beside the field, not again above the form.
      assert.equal(await page.locator('#form-error').isVisible(), false);
      assert.equal(await page.getByText('Seeds per init must be').filter({ visible: true }).count(), 1);
    }
    await page.fill('#f-seeds', '1');
    await page.check('#f-vary-data-seed');
    await page.click('#submit-button');
    await page.locator('#f-vary-data-seed').locator('xpath=ancestor::div[contains(@class,"field")]')
      .locator('.field-error').waitFor();
    assert.match(await page.locator('.field-error').textContent(), /^Varying the data seed needs 2 seeds or more/);
    assert.equal(await page.locator('#f-seeds ~ .field-error').count(), 0);  // the old one is gone
    await page.uncheck('#f-vary-data-seed');
    assert.deepEqual(await listJobs(), []);
  });

  it('with seeds 2 and the depth-24 check, submits the lab job and then the same job at depth 24', async () => {
    await page.fill('#f-steps', String(STEPS));
    await page.fill('#f-seeds', '2');
    await page.check('#f-verify-depth');
    await page.click('#submit-button');
    await page.waitForURL(/#\/jobs\/\d+$/);
    const firstId = page.url().match(/#\/jobs\/(\d+)$/)[1];
    assert.equal(await page.getAttribute('#job-follow-up', 'data-state'), 'waiting');

    // A reload while the first job runs: the page carries on from localStorage. The job must
    // still be running once the page is back, or the follow-up was never waited for across a
    // reload.
    await page.reload();
    await page.waitForSelector('#job-follow-up[data-state="waiting"], #job-follow-up[data-state="submitted"]');
    const reloaded = await api(server.url, `/api/v1/jobs/${firstId}`);
    assert.ok(['JOB_STATE_QUEUED', 'JOB_STATE_RUNNING'].includes(reloaded.state),
      `the first job had ended (${reloaded.state}) before the page was back from the reload: lengthen it (STEPS)`);
    assert.equal(await page.getAttribute('#job-follow-up', 'data-state'), 'waiting');
    const first = await waitForJob(server.url, firstId);
    assert.equal(first.state, 'JOB_STATE_SUCCEEDED');
    await page.waitForSelector('#job-follow-up[data-state="submitted"]', { timeout: 30000 });
    const deeperId = (await page.getAttribute('#job-follow-up a', 'href')).match(/#\/jobs\/(\d+)$/)[1];
    assert.notEqual(deeperId, firstId);

    const deeper = await api(server.url, `/api/v1/jobs/${deeperId}`);
    const runsOf = (job) => job.runs.map((r) => `${r.spec.init}:${r.spec.weightSeed}`);
    // Lab 1's three inits, each under two consecutive weight seeds; the same runs at depth 24.
    assert.equal(first.spec.model.depth, 12);
    assert.equal(deeper.spec.model.depth, 24);
    assert.equal(first.runs.length, 6);
    assert.deepEqual(runsOf(first).map((r) => r.split(':')[0]),
      ['uniform', 'uniform', 'xavier', 'xavier', 'kaiming', 'kaiming']);
    assert.deepEqual(runsOf(deeper), runsOf(first));
    for (const key of ['steps', 'lr', 'momentum', 'batch']) {
      assert.equal(deeper.spec.training[key], first.spec.training[key], key);
    }
    // Exactly two jobs: the reload did not submit the second one twice.
    await page.waitForTimeout(3000);
    assert.deepEqual((await listJobs()).map((j) => j.id).sort(), [firstId, deeperId].sort());

    // Its link opens the deeper job.
    await page.click('#job-follow-up a');
    await page.waitForURL(new RegExp(`#/jobs/${deeperId}$`));
    // Stop the deeper job if it still runs (the server is stopped after the test anyway).
    await api(server.url, `/api/v1/jobs/${deeperId}:cancel`, { method: 'POST', body: {} }).catch(() => {});
    assert.deepEqual(problems, []);
  });
});
