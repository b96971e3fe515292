// The HTTP API (server/http/gateway.h): protobuf's JSON mapping of ablate.v1's messages.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Signing in. A server with users answers 401 to a request without a valid token; call() then
// asks the page for one (setTokenPrompt), once for all the requests that were refused at the
// same time, and retries. Signing in stores the token as an HttpOnly cookie that the browser
// sends with every request, EventSource streams and download links included, for 30 days.
let promptForToken = null;  // async () => void: resolves once signed in
let signingIn = null;       // the prompt on screen, shared by every refused request

export function setTokenPrompt(prompt) { promptForToken = prompt; }

async function call(path, options = {}, retried = false) {
  const { method = 'GET', body } = options;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'UNAVAILABLE', 'The server cannot be reached. Is ablate-server running?');
  }
  if (response.status === 401 && promptForToken && !retried) {
    signingIn ??= promptForToken().finally(() => { signingIn = null; });
    await signingIn;
    return call(path, options, true);
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (!response.ok) {
    const error = json?.error;
    throw new ApiError(response.status, error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `The server answered ${response.status} ${response.statusText}.`);
  }
  return json;
}

// Checks `token` with the server, which then sets it as the session cookie. Returns who it is
// ({authEnabled, name, className, role}); throws an ApiError for a refused token.
export async function signIn(token) {
  let response;
  try {
    response = await fetch('/api/v1/session', {
      method: 'POST', headers: { Authorization: `Bearer ${token}` },
    });
  } catch (e) {
    throw new ApiError(0, 'UNAVAILABLE', 'The server cannot be reached. Is ablate-server running?');
  }
  const json = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, json?.error?.code ?? `HTTP_${response.status}`,
      json?.error?.message ?? `The server answered ${response.status}.`);
  }
  return json ?? {};
}
export const getSession = () => call('/api/v1/session');
export const signOut = () => call('/api/v1/session', { method: 'DELETE' });
export const deleteJob = (id) => call(`/api/v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });

export const submitJob = (request) => call('/api/v1/jobs', { method: 'POST', body: request });
export const getJob = (id) => call(`/api/v1/jobs/${encodeURIComponent(id)}`);
// {note, add_tags, remove_tags} (UpdateJobNotesRequest): returns the job as stored after.
export const updateJobNotes = (id, request) =>
  call(`/api/v1/jobs/${encodeURIComponent(id)}/notes`, { method: 'POST', body: request });
export const cancelJob = (id) =>
  call(`/api/v1/jobs/${encodeURIComponent(id)}:cancel`, { method: 'POST', body: {} });

// filters: {owner, states: [...], init, name_contains, page_size, page_token}; empty ones are
// left out.
export function listJobs(filters) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    if (Array.isArray(value)) {
      if (value.length) query.set(key, value.join(','));
    } else if (value !== undefined && value !== null && value !== '') {
      query.set(key, String(value));
    }
  }
  const q = query.toString();
  return call(`/api/v1/jobs${q ? `?${q}` : ''}`);
}

// The class view (GetClassView): {name_contains} filters the jobs.
export function getClassView({ nameContains = '' } = {}) {
  const q = nameContains ? `?name_contains=${encodeURIComponent(nameContains)}` : '';
  return call(`/api/v1/class${q}`);
}

export const getTrajectory = (runId, maxPoints = 0) => call(
  `/api/v1/runs/${encodeURIComponent(runId)}/trajectory${maxPoints ? `?max_points=${maxPoints}` : ''}`);

export const artifactUrl = (jobId, name) =>
  `/api/v1/jobs/${encodeURIComponent(jobId)}/artifacts/${encodeURIComponent(name)}`;

export async function getArtifactText(jobId, name) {
  const response = await fetch(artifactUrl(jobId, name));
  if (!response.ok) {
    let message = `${name}: HTTP ${response.status}`;
    try { message = (await response.json()).error.message; } catch { /* keep the status */ }
    throw new ApiError(response.status, 'ARTIFACT', message);
  }
  return response.text();
}

// Follows a job's updates as Server-Sent Events until the job ends. The browser reconnects a
// dropped stream by itself, sending the last event's id (the WatchJob cursor) as Last-Event-ID,
// so nothing is lost or repeated; when the server refuses a connection (503: too many streams)
// this reconnects after a pause from the last cursor seen. Returns {close()}.
export function watchJob(jobId, { onUpdate, onStatus, onError }) {
  let source = null;
  let cursor = '0';
  let closed = false;
  let retry = null;

  const open = () => {
    if (closed) return;
    source = new EventSource(
      `/api/v1/jobs/${encodeURIComponent(jobId)}/events?cursor=${encodeURIComponent(cursor)}`);
    source.onopen = () => onStatus?.('live');
    source.onmessage = (event) => {
      if (event.lastEventId) cursor = event.lastEventId;
      const update = JSON.parse(event.data);
      onUpdate(update);
      if (update.jobFinished) {
        closed = true;
        source.close();
        onStatus?.('ended');
      }
    };
    source.addEventListener('error', (event) => {
      if (closed) return;
      if (event.data) {  // the server's own error event: the watch failed
        closed = true;
        source.close();
        let message = 'The live stream failed.';
        try { message = JSON.parse(event.data).error.message; } catch { /* keep it */ }
        onError?.(message);
        return;
      }
      if (source.readyState === EventSource.CONNECTING) {
        onStatus?.('reconnecting');
      } else {  // refused (an HTTP error): the browser will not retry by itself
        onStatus?.('reconnecting');
        retry = setTimeout(open, 3000);
      }
    });
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      source?.close();
    },
  };
}
