// The banner at the top of every page when what it shows may be out of date: what is stale,
// since when, why; gone once caught up. Two sources, each with its own logic elsewhere:
// - the live stream's state (NATS, the gateway's read of the log, the gateway itself), as
//   follow() reports it to the page's badge: liveBadge below draws both from one call;
// - the views the queries are answered from (GET /api/v1/views: the projection service behind
//   the log, or not answering), asked every few seconds on every page.
import { api, ApiError } from "./api.js";
import { el, local } from "./dom.js";

const CHECK_EVERY_MS = 5000;
const concerns = new Map(); // source -> {what, since, why} or {topic, since} (insertion order is the banner's order)

/** What an outage of one part means, in our words, whichever source noticed it.
 * why: the stream and the views' probe both see NATS (or the gateway) go; the banner said it
 * three times, with the probe's internal query name and wording that changed every 5 s, and
 * the browser's own "Failed to fetch" for a gateway gone (newcomer20a #5, #6) */
const TOPICS = {
  nats: { what: "NATS is unreachable", why: "nothing can be read or changed until it is back; this page shows what it had then" },
  gateway: { what: "The gateway is unreachable", why: "this page shows what it had then; it reconnects by itself" },
};

/** topic -> since when the banner has said it: the earliest start any source gave, kept while
 * any source still says it.
 * why: dated by whichever source was first in the map, the line moved to the views' later
 * start once the stream was live again while the views still failed (newcomer21a #13) */
const started = new Map();

/** The banner's lines: a concern each, those of one topic as one line, dated by its start. */
function lines() {
  const merged = new Map();
  for (const [source, c] of concerns) {
    const key = c.topic || source;
    if (!merged.has(key)) merged.set(key, c.topic ? { ...TOPICS[c.topic], since: started.get(c.topic) } : c);
  }
  return merged;
}

/** Note the topics said now: a new one starts at its source's time, an earlier time moves its
 * start back, one no source says any more is forgotten. */
function date() {
  const said = new Set();
  for (const c of concerns.values()) {
    if (!c.topic) continue;
    said.add(c.topic);
    const had = started.get(c.topic);
    if (!had || (c.since && Date.parse(c.since) < Date.parse(had))) started.set(c.topic, c.since || had);
  }
  for (const topic of [...started.keys()]) if (!said.has(topic)) started.delete(topic);
}

/** A server's problem in the banner's words: no NATS subject ("JetStream API
 * $JS.API.CONSUMER.CREATE.…"), which says nothing to an operator (newcomer21a #13). */
export function plainProblem(text) {
  return String(text || "").replace(/\s*\([^()]*\$JS\.[^)]*\)?/g, "").replace(/\$JS\.\S+/g, "a JetStream request").trim();
}

function report(source, concern) {
  if (concern) concerns.set(source, concern);
  else concerns.delete(source);
  date();
  const banner = document.getElementById("stale");
  if (!banner) return;
  banner.hidden = concerns.size === 0;
  banner.replaceChildren(...[...lines()].map(([key, c]) => el("p", { class: key },
    el("strong", {}, c.what), c.since ? ` since ${local(c.since)} your time` : "", `: ${c.why}`)));
}

/** The onState of follow() for a badge: "live", or "reconnecting…" saying why (and since
 * when) in its tooltip while the gateway, NATS or the log is away; the banner says it too. */
export function liveBadge(node) {
  return (live, why = {}) => {
    node.className = live ? "live" : "offline";
    node.textContent = live ? "live" : "reconnecting…";
    const since = why.since ? ` since ${local(why.since)} your time` : "";
    node.title = live ? "following the log" : `${why.problem || "not live"}${since}`;
    report("stream", live ? null : why.cause in TOPICS ? { topic: why.cause, since: why.since }
      : { what: "Not live", since: why.since, why: `${why.problem || "the live stream stopped"}; ${why.since ? "changes since then" : "new changes"} are not shown` });
  };
}

/** onState that also calls `reload` when the stream is live again after it was not: what a
 * page could not load meanwhile (its error line) is loaded then, not at the next event. */
export function againLive(onState, reload) {
  let away = false;
  return (live, why) => {
    onState(live, why);
    if (live && away) reload();
    away = !live;
  };
}

/** A page left: its stream's state is no longer this page's (the next page follows its own). */
export function forgetStream() {
  report("stream", null);
}

/** The views' word as the banner says it (null: current). */
function viewsConcern(v) {
  if (v.current) return null;
  // why: NATS itself is away (/readyz says so too): the scheduler may be fine (newcomer19b F7)
  if (!v.answering && v.cause === "nats") return { topic: "nats", since: v.since };
  if (!v.answering) return { what: "The scheduler's views are not answering", since: v.since, why: `${plainProblem(v.problem)}; what this page shows is from before then` };
  return { what: "The scheduler's views are stale", since: v.since, why: `${plainProblem(v.problem)}; what happened since then may be missing here` };
}

/** Ask about the views now and every few seconds, for as long as the console is open. */
export function watchViews() {
  let failing = null; // why: since when the gateway gives no answer (the first check that got none)
  const check = async () => {
    try {
      report("views", viewsConcern(await api("/views")));
      failing = null;
    } catch (err) {
      failing = failing || new Date().toISOString();
      // why: signed out is no staleness; no answer at all is the gateway gone (the browser's
      // words for it differ: "Failed to fetch", "NetworkError when attempting…")
      if (err instanceof ApiError && err.status === 401) report("views", null);
      else if (!(err instanceof ApiError)) report("views", { topic: "gateway", since: failing });
      else report("views", { what: "Cannot tell whether this page is current", since: failing, why: err.message });
    }
    setTimeout(check, CHECK_EVERY_MS);
  };
  check();
}
