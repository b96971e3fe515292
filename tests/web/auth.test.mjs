// The page on a server shared by two classes: it asks for a token once, remembers it across
// reloads, says who is signed in, lists only the class's jobs, offers Delete on one's own ended
// job, and asks again after signing out. Run by run.sh (ctest: web.browser).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { api, launchBrowser, startServer, waitForJob } from './server.mjs';

const tiny = (name) => ({
  spec: {
    name,
    model: { depth: 3, width: 16, inputDim: 16 },
    training: { steps: 20, evalEvery: 10 },
    runs: [{ init: 'kaiming' }],
  },
});

let server;
let browser;
let page;
let adaJob;
let bobJob;
let eveJob;
const problems = [];

describe('Ablate page with a class', () => {
  before(async () => {
    server = await startServer({
      binary: process.env.ABLATE_SERVER,
      webDir: process.env.ABLATE_WEB_DIR,
      admin: [
        ['add-class', 'cs101', '--instructor', 'carol'],
        ['add-students', 'cs101', 'ada', 'bob'],
        ['add-class', 'cs102', '--instructor', 'dan'],
        ['add-user', 'cs102', 'eve'],
      ],
    });
    const { tokens } = server;
    adaJob = (await api(server.url, '/api/v1/jobs', { method: 'POST', body: tiny('ada-job'), token: tokens.ada })).job;
    bobJob = (await api(server.url, '/api/v1/jobs', { method: 'POST', body: tiny('bob-job'), token: tokens.bob })).job;
    eveJob = (await api(server.url, '/api/v1/jobs', { method: 'POST', body: tiny('eve-job'), token: tokens.eve })).job;
    await waitForJob(server.url, adaJob.id, 60000, tokens.ada);
    await waitForJob(server.url, bobJob.id, 60000, tokens.bob);
    await waitForJob(server.url, eveJob.id, 60000, tokens.eve);
    browser = await launchBrowser(chromium);
    page = await browser.context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
        problems.push(`console: ${m.text()}`);
      }
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('asks for a token once, refuses a wrong one, and signs in with the right one', async () => {
    const sessionPosts = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/v1/session')) sessionPosts.push(r.url());
    });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#signin[open]');
    // Every refused request shares the one prompt.
    assert.equal(await page.locator('dialog[open]').count(), 1);
    await page.fill('#signin-token', 'abl_wrong');
    await page.click('#signin-button');
    await page.waitForSelector('#signin-error:not([hidden])');
    assert.match(await page.textContent('#signin-error'), /not valid/);

    await page.fill('#signin-token', server.tokens.ada);
    await page.click('#signin-button');
    await page.waitForSelector('#signin:not([open])', { state: 'attached' });
    await page.waitForSelector('#who:not([hidden])');
    assert.equal(await page.textContent('#who-text'), 'signed in as ada (cs101, student)');
    assert.equal(sessionPosts.length, 2);
    // The token lives in an HttpOnly cookie, out of the page's reach.
    assert.equal(await page.evaluate(() => document.cookie.includes('ablate_token')), false);
    const cookies = await browser.context.cookies();
    const cookie = cookies.find((c) => c.name === 'ablate_token');
    assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict', JSON.stringify(cookie));
  });

  it('lists the class\'s jobs and nothing of the other class', async () => {
    await page.waitForSelector('#jobs-list[data-ready]', { state: 'attached' });
    await page.waitForSelector(`.job-row[data-job="${adaJob.id}"]`);
    const shown = await page.$$eval('.job-row', (rows) => rows.map((r) => r.dataset.job).sort());
    assert.deepEqual(shown, [String(adaJob.id), String(bobJob.id)].sort());
    assert.equal(await page.inputValue('#f-owner'), 'ada');
  });

  it('remembers the sign-in across a reload and offers Delete only on one\'s own job', async () => {
    await page.goto(`${server.url}/#/jobs/${bobJob.id}`);
    await page.waitForSelector('#who:not([hidden])');
    assert.equal(await page.locator('dialog[open]').count(), 0);
    await page.waitForSelector('#view-job[data-state="succeeded"]');
    assert.equal(await page.isHidden('#job-delete'), true);

    // Ada's run chosen for comparison, from the list.
    await page.goto(`${server.url}/#/`);
    const pick = `#pick-${adaJob.id}-${adaJob.runs[0].id}`;
    await page.waitForSelector(pick);
    await page.check(pick);
    assert.equal(await page.textContent('#compare-count'), '1');

    await page.goto(`${server.url}/#/jobs/${adaJob.id}`);
    await page.waitForSelector('#view-job[data-state="succeeded"]');
    await page.waitForSelector('#job-delete:not([hidden])');
    const seq = Number(await page.getAttribute('#jobs-list', 'data-seq') || 0);
    // The list's next request is held, so that what the home view shows meanwhile is seen.
    const held = [];
    const listRequests = (url) => url.pathname === '/api/v1/jobs';
    await page.route(listRequests, (route) => { held.push(route); });
    page.once('dialog', (d) => d.accept());
    await page.click('#job-delete');
    await page.waitForFunction(() => window.location.hash === '#/');
    // The deleted job left the page at once: its row in the list last loaded, its compare choice.
    await page.waitForSelector(`.job-row[data-job="${bobJob.id}"]`);
    assert.equal(await page.locator(`.job-row[data-job="${adaJob.id}"]`).count(), 0);
    assert.equal(await page.isHidden('#compare-count'), true);
    for (const route of held) await route.continue();
    await page.unroute(listRequests);
    await page.waitForFunction((s) => {
      const list = document.querySelector('#jobs-list');
      return Number(list.dataset.seq) > s && list.dataset.loading === 'false';
    }, seq);
    await page.waitForSelector(`.job-row[data-job="${bobJob.id}"]`);
    assert.equal(await page.locator(`.job-row[data-job="${adaJob.id}"]`).count(), 0);
  });

  it('does not show another class\'s job', async () => {
    await page.goto(`${server.url}/#/jobs/${eveJob.id}`);
    await page.waitForSelector('#job-error:not([hidden])');
    assert.equal(await page.textContent('#job-error'), `There is no job ${eveJob.id}.`);
  });

  it('asks again after signing out', async () => {
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#who:not([hidden])');
    await page.click('#sign-out');
    await page.waitForSelector('#signin[open]');
    assert.deepEqual(problems, []);
  });
});
