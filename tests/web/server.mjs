// Starts a real ablate-server for the browser tests and the benchmark: gRPC and HTTP on free
// ports (port 0, read back from its log), a fresh data directory, the built page.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// `admin`: argument lists of `ablate-server admin` commands run on the data directory first
// (e.g. [['add-class', 'cs101', '--instructor', 'carol']]); the tokens they print are returned
// as server.tokens, by user name.
export async function startServer({ binary, webDir, workers = 2, admin = [] }) {
  if (!binary) throw new Error('ABLATE_SERVER (the ablate-server binary) is not set');
  const dataDir = mkdtempSync(join(tmpdir(), 'ablate-web-test-'));
  const tokens = {};
  for (const command of admin) {
    const out = execFileSync(binary, ['admin', ...command, '--data-dir', dataDir],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const line of out.split('\n')) {
      const [name, token] = line.split('\t');
      if (token) tokens[name] = token;
    }
  }
  const args = ['--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data-dir', dataDir,
    '--workers', String(workers)];
  if (webDir) args.push('--web-dir', webDir);
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ablate-server did not start:\n${log.join('\n')}`)), 30000);
    const onLine = (line) => {
      log.push(line);
      const m = line.match(/HTTP API on (http:\/\/[^\s/]+)\//);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ablate-server exited (${code}) before serving HTTP:\n${log.join('\n')}`));
    });
  });
  return {
    url,
    log,
    dataDir,
    tokens,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// JSON API helpers (the same routes the page uses).
export async function api(url, path, { method = 'GET', body, token } = {}) {
  const headers = body === undefined ? {} : { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

export async function waitForJob(url, id, timeoutMs = 120000, token = undefined) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await api(url, `/api/v1/jobs/${id}`, { token });
    if (['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'].includes(job.state)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} did not end within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Debian's chromium, headless, with a fresh profile; no browser is downloaded.
export async function launchBrowser(chromium, { width = 1280, height = 900 } = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'ablate-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.ABLATE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width, height },
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
