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

/** The banner's lines: a concern each, those of one topic as one line, dated by the first
 * source that said it (why: a line that moves its time as a second source joins is not stable). */
function lines() {
  const merged = new Map();
  for (const [source, c] of concerns) {
    const key = c.topic || source;
    const had = merged.get(key);
    if (!had) merged.set(key, c.topic ? { ...TOPICS[c.topic], since: c.since } : c);
    else had.since = had.since || c.since;
  }
  return merged;
}

function report(source, concern) {
  if (concern) concerns.set(source, concern);
  else concerns.delete(source);
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

/** A page left: its stream's state is no longer this page's (the next page follows its own). */
export function forgetStream() {
  report("stream", null);
}

/** The views' word as the banner says it (null: current). */
function viewsConcern(v) {
  if (v.current) return null;
  // why: NATS itself is away (/readyz says so too): the scheduler may be fine (newcomer19b F7)
  if (!v.answering && v.cause === "nats") return { topic: "nats", since: v.since };
  if (!v.answering) return { what: "The scheduler's views are not answering", since: v.since, why: `${v.problem}; what this page shows is from before then` };
  return { what: "The scheduler's views are stale", since: v.since, why: `${v.problem}; what happened since then may be missing here` };
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
