// The submit form's lab options, as `ablate lab` has them: seeds per init, a data seed per
// seed, and question 4 checked by a second job at depth 24.
//
// The second job is the page's doing, as it is the CLI's (client/cli.cc, Runner::Lab): once
// the first job has ended and succeeded, the same request with the model's depth set to 24 is
// submitted as a new job; when the first fails or is cancelled, nothing is submitted. The
// pending request is kept in localStorage, so that a reload, or another tab of the page,
// carries on where this one stopped; a Web Lock keeps two tabs from submitting it twice.

// The server's limit (server/jobs/spec.h, kMaxRuns): a job holds at most this many runs, so
// runs × seeds may not exceed it. The server checks it again; this copy lets the form say
// the allowed range before anything is sent.
export const MAX_RUNS_PER_JOB = 16;
// The depth lab 1's question 4 asks about.
export const VERIFY_DEPTH = 24;

// The largest seeds value the server accepts for a job of `runs` runs (at least 1).
export function maxSeeds(runs) {
  return Math.max(1, Math.floor(MAX_RUNS_PER_JOB / Math.max(1, runs)));
}

// What is wrong with the lab options, as {field, message} (field: the form control's name), or
// null when nothing is. `seeds` is the input's text (empty: the server's default, 1); `runs` the
// number of ticked inits; `depth` the depth field's text.
export function labOptionsProblem({ seeds, runs, varyDataSeed, verifyDepth, depth }) {
  const max = maxSeeds(runs);
  let count = 1;
  if (seeds !== '') {
    count = Number(seeds);
    if (!Number.isInteger(count) || count < 1 || count > max) {
      const why = runs > 1
        ? `each of the ${runs} ticked inits trains once per seed, and a job holds at most ${MAX_RUNS_PER_JOB} runs`
        : `a job holds at most ${MAX_RUNS_PER_JOB} runs`;
      return {
        field: 'seeds',
        message: `Seeds per init must be a whole number from 1 to ${max} (got “${seeds}”): ${why}.`,
      };
    }
  }
  if (varyDataSeed && count < 2) {
    return {
      field: 'vary_data_seed',
      message: 'Varying the data seed needs 2 seeds or more: with one seed there is nothing to vary. '
        + 'Raise “Seeds per init”, or untick it.',
    };
  }
  if (verifyDepth && depth.trim() !== '' && Number(depth) === VERIFY_DEPTH) {
    return {
      field: 'verify_depth',
      message: `This job is already ${VERIFY_DEPTH} layers deep, so a second job at depth `
        + `${VERIFY_DEPTH} would only repeat it: set the depth to the lab's 12, or untick the check.`,
    };
  }
  return null;
}

// The second job's request: `request` (as sent for the first job) at depth VERIFY_DEPTH. A name
// the student gave gets " · depth 24"; without one the server names the job by what differs.
export function deeperRequest(request) {
  const deeper = structuredClone(request);
  deeper.spec.model = { ...deeper.spec.model, depth: VERIFY_DEPTH };
  if (deeper.spec.name) deeper.spec.name = `${deeper.spec.name} · depth ${VERIFY_DEPTH}`;
  return deeper;
}

// ---------------------------------------------------------------------------------------------
// The follow-up jobs: first job id → {request, state, deeperId?, message?}, where state is
// 'waiting' (for the first job to end), 'submitted' (deeperId), 'skipped' or 'failed' (message).

const STORAGE_KEY = 'ablate.followUps';
const KEEP = 50;            // entries kept for the job pages' notes; the oldest go first
const POLL_MS = 2000;       // how often a waiting first job is looked at

const ENDED = ['JOB_STATE_SUCCEEDED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED'];

export class FollowUps {
  // api: {getJob(id), submitJob(request)}; storage: a Storage (localStorage); onChange(firstId)
  // is called whenever an entry changes; locks: navigator.locks, or undefined.
  constructor({ api, storage, onChange = () => {}, locks = undefined, pollMs = POLL_MS }) {
    this.api = api;
    this.storage = storage;
    this.onChange = onChange;
    this.locks = locks;
    this.pollMs = pollMs;
    this.timers = new Map();
  }

  all() {
    try {
      const value = JSON.parse(this.storage.getItem(STORAGE_KEY) ?? '{}');
      return value && typeof value === 'object' ? value : {};
    } catch {
      return {};
    }
  }

  get(firstId) { return this.all()[String(firstId)] ?? null; }

  save(firstId, entry) {
    const entries = this.all();
    entries[String(firstId)] = { ...entry, updated: Date.now() };
    const ids = Object.keys(entries).sort((a, b) => entries[a].updated - entries[b].updated);
    for (const id of ids.slice(0, Math.max(0, ids.length - KEEP))) delete entries[id];
    this.storage.setItem(STORAGE_KEY, JSON.stringify(entries));
    this.onChange(String(firstId));
  }

  // Remembers that job `firstId` is to be followed by `request`, and starts watching it.
  add(firstId, request) {
    this.save(firstId, { request, state: 'waiting' });
    this.watch(String(firstId));
  }

  // Watches every waiting entry (at the page's start: a reload carries on).
  resume() {
    for (const [id, entry] of Object.entries(this.all())) {
      if (entry.state === 'waiting') this.watch(id);
    }
  }

  watch(firstId) {
    if (this.timers.has(firstId)) return;
    const tick = async () => {
      this.timers.delete(firstId);
      const keepWaiting = await this.check(firstId).catch(() => true);
      if (keepWaiting) this.timers.set(firstId, setTimeout(tick, this.pollMs));
    };
    this.timers.set(firstId, setTimeout(tick, 0));
  }

  // One look at job `firstId`; true while it is still to be waited for. Errors reading the job
  // (the server restarting, a dropped connection) mean: look again later.
  async check(firstId) {
    const run = async () => {
      const entry = this.get(firstId);
      if (entry?.state !== 'waiting') return false;
      let job;
      try {
        job = await this.api.getJob(firstId);
      } catch (error) {
        if (error.status === 404) {
          this.save(firstId, { ...entry, state: 'skipped',
            message: `Job ${firstId} was deleted, so the depth-${VERIFY_DEPTH} job was not submitted.` });
          return false;
        }
        return true;
      }
      if (!ENDED.includes(job.state)) return true;
      if (job.state !== 'JOB_STATE_SUCCEEDED') {
        const how = job.state.replace('JOB_STATE_', '').toLowerCase();
        this.save(firstId, { ...entry, state: 'skipped',
          message: `Job ${firstId} ${how}, so the depth-${VERIFY_DEPTH} job was not submitted.` });
        return false;
      }
      try {
        const response = await this.api.submitJob(entry.request);
        this.save(firstId, { ...entry, state: 'submitted', deeperId: String(response.job.id) });
      } catch (error) {
        if (error.status === 0 || error.status >= 500) return true;  // try again shortly
        this.save(firstId, { ...entry, state: 'failed',
          message: `The server refused the depth-${VERIFY_DEPTH} job: ${error.message}` });
      }
      return false;
    };
    // One tab at a time: another tab holding the lock is doing this very check.
    if (!this.locks) return run();
    return this.locks.request(`${STORAGE_KEY}.${firstId}`, { ifAvailable: true },
      (lock) => (lock ? run() : true));
  }
}
