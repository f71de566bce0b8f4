// The schedules table: state, next fire (zone and UTC), last result, success sparkline; live.
import { api, follow } from "./api.js";
import { rate, sparkline } from "./charts.js";
import { badge, el, isUtc, local, main, table, utc, zoned } from "./dom.js";
import { liveBadge } from "./stale.js";

async function allSchedules(params) {
  const rows = [];
  let cursor = null;
  do {
    const page = await api("/schedules", { params: { ...params, limit: 500, cursor } });
    rows.push(...page.schedules);
    cursor = page.next_cursor;
  } while (cursor && rows.length < 5000);
  return rows;
}

function byschedule(runs) {
  const out = new Map();
  for (const r of runs) {
    if (!out.has(r.schedule)) out.set(r.schedule, []);
    out.get(r.schedule).push(r);
  }
  return out;
}

export async function schedulesPage() {
  const search = el("input", { type: "search", id: "filter-q", placeholder: "Filter: name, spec, command…" });
  const state = el("select", { id: "filter-state" },
    ["", "active", "paused", "completed"].map((s) => el("option", { value: s }, s || "any state")));
  const live = el("span", { id: "live" });
  const holder = el("div", { id: "schedules" });
  main().replaceChildren(
    el("h1", {}, "Schedules", live),
    el("div", { class: "toolbar" },
      el("a", { class: "button primary writer", href: "#/new", id: "new-schedule" }, "New schedule"),
      el("label", {}, "Search", search), el("label", {}, "State", state)),
    holder);

  // why: only the latest render's answer is shown; an older one (the filter as it was two
  // keystrokes ago, a slow live redraw) may land after it
  let latest = 0;
  const render = async () => {
    const mine = ++latest;
    const [rows, runs] = await Promise.all([
      allSchedules({ q: search.value, state: state.value }),
      api("/runs", { params: { limit: 2000 } }),
    ]);
    if (mine !== latest) return;
    const recent = byschedule(runs.runs);
    holder.replaceChildren(rows.length ? table([
      ["Name", (r) => el("a", { href: `#/s/${encodeURIComponent(r.name)}` }, r.name)],
      ["State", (r) => [badge(r.state), r.paused_reason ? el("div", { class: "small" }, r.paused_reason) : ""]],
      ["Spec", (r) => el("code", {}, r.spec)],
      ["Next fire", (r) => nextFire(r)],
      ["Last result (your time)", (r) => r.last_status ? [badge(r.last_status), el("div", { class: "small" }, local(r.last_run_at))] : "–"],
      ["Success", (r) => [sparkline(recent.get(r.name) || []), el("span", { class: "small" }, ` ${rate(recent.get(r.name) || [])}`)]],
    ], rows, { key: (r) => r.name }) : el("p", {}, "No schedules yet. ", el("a", { href: "#/new" }, "Create one")));
  };
  search.addEventListener("input", debounce(render, 250));
  state.addEventListener("change", render);
  await render();
  return follow({}, debounce(render, 400), liveBadge(live));
}

/** The next fire in the schedule's zone with UTC below it; UTC alone for a UTC schedule. */
function nextFire(r) {
  if (!r.next_fire) return "–";
  if (isUtc(r.tz)) return el("div", { class: "next-utc" }, utc(r.next_fire));
  return [el("div", { class: "next-local" }, zoned(r.next_fire, r.tz, r.next_fire_abbr)), el("div", { class: "small next-utc" }, utc(r.next_fire))];
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
