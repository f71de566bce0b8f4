// Talking to /api/v1: the bearer token (kept in this browser), problem+json errors, live events.
const TOKEN_KEY = "jetcron.token";

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) || "",
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

/** An API error: the problem's detail is the same line the CLI prints. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function headers(extra = {}) {
  const value = token.get();
  return value ? { Authorization: `Bearer ${value}`, ...extra } : extra;
}

/** No answer at all from the gateway (it is gone, or the network): in our words, with the time
 * it was noticed, never the browser's ("Failed to fetch", "NetworkError when attempting…").
 * `since`: when (ISO). */
export class Unreachable extends Error {
  constructor(since = new Date().toISOString()) {
    super(`the gateway did not answer at ${new Date(since).toLocaleTimeString(undefined, { hourCycle: "h23" })} your time; it reconnects by itself: try again in a moment`);
    this.since = since;
  }
}

/** fetch, with no answer at all said as Unreachable (an abort stays an abort). */
export async function reach(url, options) {
  try {
    return await fetch(url, options);
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new Unreachable();
  }
}

/** fetch /api/v1<path>; the decoded JSON (null for 204), or an ApiError (Unreachable: no answer). */
export async function api(path, { method = "GET", body, params, ifMatch } = {}) {
  // why: a reason rides in the query for create, PATCH and DELETE (any text; headers are latin-1)
  const query = params ? `?${new URLSearchParams(clean(params))}` : "";
  const extra = body === undefined ? {} : { "Content-Type": "application/json" };
  if (ifMatch !== undefined) extra["If-Match"] = `"${ifMatch}"`;
  const res = await reach(`/api/v1${path}${query}`, {
    method, headers: headers(extra), body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.detail || res.statusText);
  return data;
}

function clean(params) {
  return Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
}

/**
 * Follow /api/v1/events (server-sent events read with fetch, so the token goes in a header,
 * never in a URL). Calls onEvent({id, type, data}) in log order; reconnects after the last id.
 * onState(live, why) follows the stream's `state` messages (the gateway lost NATS, or got it
 * back) and the connection to the gateway itself.
 */
export function follow(params, onEvent, onState = () => {}) {
  const stop = new AbortController();
  let last = null;
  // why: since when the stream is down and whose fault (the banner says it once): a stream
  // refused (503) while NATS is away is the same outage, not a new one
  let down = null;
  const state = (live, data) => {
    // why: a state message may come without its since (the gateway had not yet noted when it
    // lost NATS): then since this page noticed, never a line without a time
    down = live ? null : { since: data.since || down?.since || new Date().toISOString(), cause: data.cause };
    onState(live, { ...data, since: down?.since });
  };
  const failed = (err, silent) => {
    const problem = err instanceof ApiError ? err.message
      : silent ? `the gateway sent nothing for ${SILENT_MS / 1000} s (reconnecting)` : "the gateway is unreachable (reconnecting)";
    const cause = !(err instanceof ApiError) ? "gateway" : err.status === 503 && down?.cause === "nats" ? "nats" : undefined;
    // why: the same outage keeps its start; `down` is null on the first failure (it was read
    // as down.since when both causes were undefined: a TypeError, newcomer21a #1)
    state(false, { problem, cause, since: down && down.cause === cause ? down.since : new Date().toISOString() });
  };
  const run = async () => {
    while (!stop.signal.aborted) {
      const conn = new AbortController();
      const ended = () => conn.abort();
      stop.signal.addEventListener("abort", ended);
      // why: the gateway writes at least every 5 s; silence means it (or the network) hangs
      // without closing the connection, which a browser would wait out for minutes
      let heard = Date.now();
      const watchdog = setInterval(() => Date.now() - heard > SILENT_MS && conn.abort(), 1000);
      try {
        const query = new URLSearchParams(clean({ ...params, after: last }));
        const res = await reach(`/api/v1/events?${query}`, { headers: headers(), signal: conn.signal });
        if (!res.ok) throw new ApiError(res.status, (await res.json().catch(() => ({}))).detail || res.statusText);
        await read(res.body, () => { heard = Date.now(); }, (message) => {
          // why: a state message has no id; the next reconnect still resumes after the last event
          if (message.type === "state") state(message.data.live, message.data);
          else { last = message.id; onEvent(message); }
        });
        // why: closed while NATS is away is that outage still
        state(false, { problem: "the gateway closed the live stream (reconnecting)", cause: down?.cause });
      } catch (err) {
        if (stop.signal.aborted) return;
        // why: any error at all (a bad frame, a page's onEvent that threw) reconnects; one
        // uncaught here ended the stream for good (newcomer21a #1)
        try { failed(err, conn.signal.aborted); } catch (bug) { console.error(bug); }
      } finally {
        clearInterval(watchdog);
        stop.signal.removeEventListener("abort", ended);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  run();
  return () => stop.abort();
}

/** Silence on a live stream after which the gateway counts as gone (it writes every 5 s). */
const SILENT_MS = 12000;

async function read(stream, onBytes, onMessage) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onBytes();
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = {};
      for (const line of chunk.split("\n")) {
        if (line.startsWith(":")) continue;
        const at = line.indexOf(": ");
        if (at > 0) message[line.slice(0, at)] = line.slice(at + 2);
      }
      if (message.event) onMessage({ id: message.id, type: message.event, data: JSON.parse(message.data) });
    }
  }
}
