// The schedules table: state, next fire (zone and UTC), last result, success sparkline; live.
import { api, follow } from "./api.js";
import { rate, sparkline } from "./charts.js";
import { anySeconds, badge, droppedNote, el, isUtc, local, main, runBadge, table, utc, zoned } from "./dom.js";
import { liveBadge } from "./stale.js";

/** Every schedule matching `params` (the API's pages, up to 5000). */
export async function allSchedules(params) {
  const rows = [];
  let cursor = null;
  do {
    const page = await api("/schedules", { params: { ...params, limit: 500, cursor } });
    rows.push(...page.schedules);
    cursor = page.next_cursor;
  } while (cursor && rows.length < 5000);
  return rows;
}

const SPARK = 20; // runs a sparkline draws
const ASKING = 4; // sparkline questions at a time

/**
 * The last runs of each schedule, for its sparkline and success rate: asked per schedule, of
 * the live schedule only (`current`: not those of an earlier schedule of its name), the 20 the
 * sparkline draws, once its row is on screen, and again only after an event of it.
 * why: one shared page of all runs let a busy schedule push a daily one's history out, and
 * counted a deleted schedule's runs for the new one of its name
 */
function recentRuns() {
  const known = new Map(); // name -> its last runs
  const changed = new Map(); // name -> events seen of it (an answer asked before one is stale)
  const queue = [], asking = new Set();
  const fill = (cell, name) => cell.replaceChildren(sparkline(known.get(name)), el("span", { class: "small" }, ` ${rate(known.get(name))}`));
  const ask = (name) => {
    const seen = changed.get(name) || 0;
    asking.add(name);
    api("/runs", { params: { schedule: name, current: true, limit: SPARK } }).then((page) => {
      known.set(name, page.runs);
      // why: after an event that came meanwhile it is asked again at the next redraw
      if ((changed.get(name) || 0) === seen) changed.delete(name);
      for (const cell of document.querySelectorAll(`[data-spark="${CSS.escape(name)}"]`)) fill(cell, name);
    }).catch(() => {}).finally(() => { asking.delete(name); next(); });
  };
  const next = () => {
    // why: a name asked already waits in the queue for its answer, not dropped
    for (const name of queue.filter((n) => !asking.has(n)).slice(0, ASKING - asking.size)) {
      queue.splice(queue.indexOf(name), 1);
      ask(name);
    }
  };
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries.filter((x) => x.isIntersecting)) {
      observer.unobserve(e.target);
      if (!queue.includes(e.target.dataset.spark)) queue.push(e.target.dataset.spark);
    }
    next();
  });
  return {
    /** A sparkline cell: drawn from what is known, asked for (once on screen) if not or stale. */
    cell(name) {
      const cell = el("span", { class: "spark", "data-spark": name }, known.has(name) ? "" : "…");
      if (known.has(name)) fill(cell, name);
      if (!known.has(name) || changed.has(name)) observer.observe(cell);
      return cell;
    },
    /** An event of schedule `name`: its runs are asked again when its row is drawn next. */
    changed(name) { changed.set(name, (changed.get(name) || 0) + 1); },
    /** A new table replaces the cells watched. */
    redrawn() { observer.disconnect(); },
    stop() { observer.disconnect(); queue.length = 0; },
  };
}

const STATES = ["", "active", "paused", "completed"];

/** What matches nothing, said so (newcomer20a #7: "No schedules yet. Create one" for a search). */
function nothing(q, state) {
  if (!q && !state) return el("p", {}, "No schedules yet. ", el("a", { href: "#/new" }, "Create one"));
  const which = state ? `${state} schedule` : "schedule";
  return el("p", { id: "no-match" }, q ? `No ${which} matches '${q}'.` : `No ${which}s.`);
}

/** The page's address for its filters (`#/?q=lamp&state=paused`), kept without a reload
 * (replaceState fires no hashchange) so a filtered view reloads and shares. */
function keepInAddress(q, state) {
  const query = new URLSearchParams(Object.entries({ q, state }).filter(([, v]) => v)).toString();
  history.replaceState(null, "", `#/${query ? `?${query}` : ""}`);
}

export async function schedulesPage(query) {
  const given = new URLSearchParams(query || "");
  // why: `#/?state=bogus` showed every schedule without a word (newcomer21a #7)
  const dropped = [...given].filter(([k, v]) => !(k === "q" || (k === "state" && (!v || STATES.includes(v))))).map(([k, v]) => `${k}=${v}`);
  const search = el("input", { type: "search", id: "filter-q", placeholder: "Filter: name, spec, command…", value: given.get("q") || "" });
  const state = el("select", { id: "filter-state" },
    STATES.map((s) => el("option", { value: s, selected: s === given.get("state") }, s || "any state")));
  const live = el("span", { id: "live" });
  const holder = el("div", { id: "schedules" });
  const note = droppedNote(dropped, `state is one of ${STATES.filter(Boolean).join(", ")}; this page filters by search and state`);
  main().replaceChildren(
    el("h1", {}, "Schedules", live), note,
    el("div", { class: "toolbar" },
      el("a", { class: "button primary writer", href: "#/new", id: "new-schedule" }, "New schedule"),
      el("label", {}, "Search", search), el("label", {}, "State", state)),
    holder);

  // why: only the latest render's answer is shown; an older one (the filter as it was two
  // keystrokes ago, a slow live redraw) may land after it
  let latest = 0;
  const recent = recentRuns();
  const render = async () => {
    const mine = ++latest;
    const [q, chosen] = [search.value.trim(), state.value];
    const rows = await allSchedules({ q, state: chosen });
    if (mine !== latest) return;
    recent.redrawn();
    const secs = anySeconds(rows.map((r) => r.next_fire));
    const lastSecs = anySeconds(rows.map((r) => r.last_run_at)); // why: 14:13 under 14:13:10 (newcomer21a #11)
    holder.replaceChildren(rows.length ? table([
      ["Name", (r) => el("a", { href: `#/s/${encodeURIComponent(r.name)}` }, r.name)],
      ["State", (r) => [badge(r.state), r.paused_reason ? el("div", { class: "small" }, r.paused_reason) : ""]],
      ["Spec", (r) => el("code", {}, r.spec)],
      ["Next fire", (r) => nextFire(r, secs)],
      ["Last result (your time)", (r) => r.last_status ? [runBadge(r.last_status, r.last_offline), el("div", { class: "small" }, local(r.last_run_at, lastSecs))] : "–"],
      ["Success", (r) => recent.cell(r.name)],
    ], rows, { key: (r) => r.name }) : nothing(q, chosen));
  };
  const refilter = () => { keepInAddress(search.value.trim(), state.value); return render(); };
  search.addEventListener("input", debounce(refilter, 250));
  state.addEventListener("change", refilter);
  await render();
  const redraw = debounce(render, 400);
  const stop = follow({}, (m) => {
    if (m.data.event?.name) recent.changed(m.data.event.name);
    redraw();
  }, liveBadge(live));
  return () => { stop(); recent.stop(); };
}

/** The next fire in the schedule's zone with UTC below it; UTC alone for a UTC schedule. */
function nextFire(r, secs) {
  if (!r.next_fire) return "–";
  if (isUtc(r.tz)) return el("div", { class: "next-utc" }, utc(r.next_fire, secs));
  return [el("div", { class: "next-local" }, zoned(r.next_fire, r.tz, r.next_fire_abbr, secs)), el("div", { class: "small next-utc" }, utc(r.next_fire, secs))];
}

/** fn once calls stop for `ms`, and at least every `longest` ms while they go on.
 * why: live events can come closer together than `ms` for as long as a busy system runs; a
 * plain debounce then never drew the page again */
export function debounce(fn, ms, longest = 2000) {
  let timer = null;
  let since = null;
  return (...args) => {
    clearTimeout(timer);
    since = since ?? Date.now();
    const wait = Math.max(0, Math.min(ms, since + longest - Date.now()));
    timer = setTimeout(() => { since = null; fn(...args); }, wait);
  };
}
