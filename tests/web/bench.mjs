// Benchmark (not a test: it prints numbers and asserts nothing) of the page under load:
//   - first paint and first useful paint (the jobs list drawn) of the page on loopback;
//   - time to draw the compare view of 9 runs (from 9 jobs) with 100 jobs × 3 runs × 1000 steps
//     in the store: fetching 9 lossless trajectories and 9 jobs, aligning and drawing them;
//   - the longest main-thread task while doing so (the page's responsiveness).
// Targets (issue 5): compare view < 200 ms, first paint < 1 s.
// Usage: node bench.mjs ABLATE_SERVER WEB_DIR   (or bench.sh, which installs playwright-core)
// With ABLATE_BENCH_URL set, measures that running server's newest 100 jobs instead of
// starting one and loading it.
import os from 'node:os';
import { chromium } from 'playwright-core';
import { api, launchBrowser, startServer } from './server.mjs';

const [binary = process.env.ABLATE_SERVER, webDir = process.env.ABLATE_WEB_DIR] = process.argv.slice(2);
const JOBS = 100;
const STEPS = 1000;
const REPEATS = 7;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `median ${median(xs).toFixed(1)} ms, min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)} (n=${xs.length})`;

const existing = process.env.ABLATE_BENCH_URL;
const cpus = os.cpus().length;
const load = () => (os.loadavg()[0]).toFixed(1);
const server = existing ? { url: existing, stop: async () => {} }
  : await startServer({ binary, webDir, workers: 2 });
try {
  // 100 jobs × 3 runs × 1000 steps: a small model, so that loading takes seconds, not hours;
  // every run records all its steps (stop_on_nonfinite off).
  const t0 = Date.now();
  const ids = existing
    ? (await api(server.url, `/api/v1/jobs?page_size=${JOBS}`)).jobs.map((j) => j.id).reverse() : [];
  for (let i = ids.length; i < JOBS; i++) {
    const { job } = await api(server.url, '/api/v1/jobs', {
      method: 'POST',
      body: {
        owner: `student${i % 25}`,
        spec: {
          name: `bench ${i}`,
          model: { depth: 3, width: 16, inputDim: 16 },
          data: { labelDims: 4 },
          training: { steps: STEPS, evalEvery: 250, stopOnNonfinite: false },
        },
      },
    });
    ids.push(job.id);
  }
  for (;;) {
    const open = await api(server.url, '/api/v1/jobs?states=queued,running&page_size=1');
    if (!open.jobs.length) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  let steps = 0;
  const jobs = [];
  for (const id of ids) {
    const job = await api(server.url, `/api/v1/jobs/${id}`);
    jobs.push(job);
    for (const r of job.runs) steps += r.stepsDone;
  }
  console.log(`loaded ${JOBS} jobs, ${JOBS * 3} runs, ${steps.toLocaleString('en')} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  console.log(`machine: ${cpus} CPUs, load average ${load()} (other processes slow every figure)`);
  const browser = await launchBrowser(chromium, { width: 1280, height: 900 });
  const page = await browser.context.newPage();

  // First paint, and the jobs list drawn, from navigation start; each load a fresh navigation.
  const fcp = [];
  const listDrawn = [];
  for (let i = 0; i < REPEATS; i++) {
    await page.goto('about:blank');
    await page.goto(`${server.url}/`);
    await page.waitForSelector('#jobs-list[data-loading="false"]', { state: 'attached' });
    const [paint, list] = await page.evaluate(() => {
      const entry = performance.getEntriesByName('first-contentful-paint')[0];
      const mark = performance.now();
      return [entry ? entry.startTime : NaN, mark];
    });
    fcp.push(paint);
    listDrawn.push(list);
  }
  console.log(`first contentful paint:        ${fmt(fcp)}   (target < 1000 ms)`);
  console.log(`jobs list (20 of 100) drawn:   ${fmt(listDrawn)}`);

  // Compare view of 9 runs from 9 different jobs spread over the store, each time in a freshly
  // loaded page (nothing cached): the page's own measurement from the view's start to the
  // chart drawn, and the longest main-thread task meanwhile. Two ways in:
  //   ticked: the runs were ticked in the jobs list (kept in localStorage), then Compare opened;
  //   link:   a bare #/compare?runs=... link, whose runs' labels come from their jobs first.
  const picks = [];
  for (let i = 0; i < 9; i++) {
    const job = jobs[Math.floor((i * (JOBS - 1)) / 8)];
    const run = job.runs[i % 3];
    picks.push({ jobId: job.id, runId: run.id, label: run.spec.init, jobName: job.name });
  }
  const measure = async (ticked) => {
    const total = [];
    const fetching = [];
    const drawing = [];
    const longest = [];
    for (let i = 0; i < REPEATS; i++) {
      await page.goto('about:blank');
      await page.goto(`${server.url}/#/`);
      await page.evaluate((items) => localStorage.setItem('ablate.compare', JSON.stringify(items)),
        ticked ? picks : []);
      await page.reload();
      await page.waitForSelector('#jobs-list[data-loading="false"]', { state: 'attached' });
      await page.evaluate(() => {
        window.__longest = 0;
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
        }).observe({ type: 'longtask' });
      });
      if (ticked) {
        await page.click('a[data-nav="compare"]');
      } else {
        await page.evaluate((runs) => { location.hash = `#/compare?runs=${runs}`; },
          picks.map((p) => `${p.jobId}:${p.runId}`).join(','));
      }
      await page.waitForSelector('#compare-chart[data-ready="true"]', { state: 'attached' });
      await page.waitForTimeout(100);  // let a long task that ends the draw be reported
      const [ms, fetchMs, drawMs, series, task] = await page.evaluate(() => {
        const d = document.querySelector('#compare-chart').dataset;
        return [Number(d.ms), Number(d.fetchMs), Number(d.drawMs), Number(d.series), window.__longest];
      });
      if (series !== 9) throw new Error(`the compare view drew ${series} runs, not 9`);
      total.push(ms);
      fetching.push(fetchMs);
      drawing.push(drawMs);
      longest.push(task);
    }
    const how = ticked ? 'runs ticked in the list' : 'bare link';
    console.log(`compare view, 9 runs × ${STEPS} steps (${how}): ${fmt(total)}   (target < 200 ms)`);
    console.log(`  of which fetching:             ${fmt(fetching)}`);
    console.log(`  of which aligning and drawing: ${fmt(drawing)}`);
    console.log(`  longest main-thread task:      ${fmt(longest)}   (0 = none over 50 ms)`);
  };
  await measure(true);
  await measure(false);

  // Switching the compare view's scale redraws from data already loaded.
  const toggle = [];
  for (let i = 0; i < REPEATS; i++) {
    const ms = await page.evaluate(async () => {
      const next = document.querySelector('input[name="compare-scale"]:not(:checked)');
      const t = performance.now();
      next.click();
      await new Promise((r) => requestAnimationFrame(() => r()));
      return performance.now() - t;
    });
    toggle.push(ms);
  }
  console.log(`compare view log/linear switch: ${fmt(toggle)}`);
  console.log(`load average at the end: ${load()}`);
  await browser.close();
} finally {
  await server.stop();
}
