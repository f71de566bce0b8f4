// Runs: a filtered, live list, and one run with its output (search, download).
import { api, ApiError, follow, reach, token } from "./api.js";
import { anySeconds, confirmAction, droppedNote, el, errorBox, isUtc, local, localAndUtc, main, place, plainTimes, runBadge, seconds, table, utc, YOUR_ZONE } from "./dom.js";
import { againLive, liveBadge } from "./stale.js";
import { allSchedules, debounce } from "./schedules.js";

const STATUSES = ["", "triggered", "running", "succeeded", "failed", "timed_out", "retrying", "deferred", "cancelled", "lost", "skipped", "fanned_out"];
/* A run id as tables show it; a fan-out member's keeps its executor: 7241fd3e-pi2. */
export const shortId = (id) => { const [head, ...member] = id.split("-"); return [head.slice(0, 8), ...member].join("-"); };

/** Runs as a table, one tab stop a row (its run's link; newcomer20a #13: two a row made 100
 * Tab presses to get past 50 runs). `ofSchedule`: on that schedule's page, whose name each
 * row would only repeat; elsewhere the schedule's link is there for the mouse, and on the run's page. */
export function runsTable(runs, onRow = (r) => r.run_id && (location.hash = `#/run/${r.run_id}`), { ofSchedule = false } = {}) {
  const secs = anySeconds(runs.map((r) => r.fire_time)); // why: one way a column, 09:43:00 under 09:43:10
  return table([
    ["Run", (r) => el("a", { href: `#/run/${r.run_id || r.fire_id}` }, el("code", {}, r.run_id ? shortId(r.run_id) : "–"))],
    ...(ofSchedule ? [] : [["Schedule", (r) => el("a", { href: `#/s/${encodeURIComponent(r.schedule)}`, tabindex: "-1" }, r.schedule)]]),
    ["Fired (your time)", (r) => localAndUtc(r.fire_time, secs)],
    ["Status", (r) => [runBadge(r.status, r.offline), r.attempt > 1 ? el("span", { class: "small" }, ` #${r.attempt}`) : ""]],
    ["Took", (r) => seconds(r.duration_s)],
    ["Note", (r) => el("span", { class: "small" }, note(r))],
  ], runs, { key: rowKey, onRow });
}

/** A row's key: its run, or for a skipped fire (no run) the fire. */
export const rowKey = (r) => r.run_id || r.fire_id;

/** The one thing to know about a run in a list, as `runs list` says it: its error, why, or
 * who triggered it (by hand or as a backfill) and why; its times read as the console's. */
export function note(r) {
  const said = plainTimes((r.offline || r.error || r.reason || "").split("\n")[0]);
  if (said) return said;
  const why = r.trigger_reason ? `: ${r.trigger_reason}` : "";
  if (r.manual) return `manual by ${r.triggered_by || "?"}${why}`;
  if (r.backfill_of) return `backfill by ${r.triggered_by || "?"}${why}`;
  return "";
}

/** The filters in the address (`#/runs?schedule=x&status=failed`), so a view reloads and
 * shares, and what of it was dropped (an unknown status, a filter this page has not). */
function filtersFrom(query) {
  const given = new URLSearchParams(query || "");
  const status = given.get("status") || "";
  const known = STATUSES.includes(status);
  const dropped = [...given].filter(([k, v]) => !(k === "schedule" || (k === "status" && (known || !v))))
    .map(([k, v]) => `${k}=${v}`);
  return { schedule: given.get("schedule") || "", status: known ? status : "", dropped };
}

export async function runsPage(query) {
  const start = filtersFrom(query);
  // why: names to pick from; a name typed is asked for once it is one of them (or on Enter):
  // each letter typed was one "schedule 'h' not found" (newcomer21a #7)
  const names = el("datalist", { id: "runs-schedule-names" });
  const schedule = el("input", { id: "runs-schedule", placeholder: "any schedule", value: start.schedule, list: "runs-schedule-names", autocomplete: "off" });
  const status = el("select", { id: "runs-status" }, STATUSES.map((s) => el("option", { value: s, selected: s === start.status }, s || "any status")));
  const live = el("span", { id: "live" });
  const holder = el("div", { id: "runs" });
  // why: one "More" button, shown or not: drawn anew on every live render, it swallowed clicks
  const more = el("button", { id: "runs-more", hidden: true, onclick: () => { more.disabled = true; queued(() => older().catch((err) => { draw(); holder.append(errorBox(err)); })); } }, "More");
  const statusWhy = `status is one of ${STATUSES.filter(Boolean).join(", ")}; this page filters by schedule and status`;
  main().replaceChildren(el("h1", {}, "Runs", live), droppedNote(start.dropped, statusWhy),
    el("div", { class: "toolbar" }, el("label", {}, "Schedule", schedule, names), el("label", {}, "Status", status)), holder, more);
  let known = null; // the schedules' names (null: not known: every name typed is asked for)
  allSchedules({}).then((rows) => {
    known = new Set(rows.map((r) => r.name));
    names.replaceChildren(...[...known].sort().map((n) => el("option", { value: n })));
  }).catch(() => {});
  // why: the rows got with "More" stay while new runs arrive (newcomer20a #8: a live update
  // loaded the newest `wanted` rows, so the oldest slid off under the reader's eyes): a live
  // update asks for the rows shown and a page more, and keeps them down to the same last row,
  // as the schedule page's "Older runs" does. One load at a time; a filter changed starts afresh.
  // The rows, their cursor and the filters they were asked with (`shown`) go together: "More"
  // continues the list shown, and waits while a filter typed is not yet shown.
  // why: "More" pressed in the typing pause read the filter typed with the cursor of the list
  // shown (another filter's): the new filter's older runs under the old list's rows, then the
  // pause's refilter cut it all back to 50 (failed 2 in 6 under load)
  let rows = [], cursor = null, shown = null, loading = Promise.resolve();
  const queued = (load) => (loading = loading.catch(() => {}).then(load));
  const filters = () => ({ schedule: schedule.value.trim(), status: status.value });
  const isShown = (f) => shown !== null && f.schedule === shown.schedule && f.status === shown.status;
  const ask = (f, params) => api("/runs", { params: { ...f, ...params } });
  const draw = () => {
    const asked = [shown.schedule && `schedule '${shown.schedule}'`, shown.status && `status ${shown.status}`].filter(Boolean);
    holder.replaceChildren(rows.length ? runsTable(rows) : el("p", { id: "no-runs" }, asked.length ? `No run matches ${asked.join(" and ")}.` : "No runs."));
    [more.hidden, more.disabled] = [!cursor, !isShown(filters())];
  };
  const newest = async () => {
    const f = filters();
    const last = isShown(f) && rows.length > PAGE ? rowKey(rows[rows.length - 1]) : null;
    const page = await ask(f, { limit: last ? rows.length + PAGE : PAGE });
    const at = last ? page.runs.findIndex((r) => rowKey(r) === last) : -1;
    if (at >= 0) rows = page.runs.slice(0, at + 1);
    else [rows, cursor] = [page.runs, page.next_cursor];
    shown = f;
    draw();
  };
  const older = async () => {
    const page = await ask(shown, { limit: PAGE, cursor });
    [rows, cursor] = [rows.concat(page.runs), page.next_cursor];
    draw();
  };
  // why: a failed reload keeps the rows shown, under one line saying why (newcomer21a #3: the
  // list was replaced by the error, and stayed so after the gateway was back)
  const failed = (err) => {
    if (shown === null) { holder.replaceChildren(errorBox(err)); more.hidden = true; return; }
    draw();
    holder.prepend(errorBox(err));
  };
  const render = () => queued(() => newest().catch(failed));
  const refilter = () => {
    const f = filters();
    // why: in the address without a new page load (replaceState fires no hashchange)
    const query = new URLSearchParams(Object.entries(f).filter(([, v]) => v)).toString();
    history.replaceState(null, "", `#/runs${query ? `?${query}` : ""}`);
    render();
  };
  // why: the list under "More" is about to be replaced by the filter's own
  const pending = () => { if (!isShown(filters())) more.disabled = true; };
  const typed = debounce(refilter, 300);
  const askable = (name) => !name || known === null || known.has(name);
  schedule.addEventListener("input", () => { pending(); if (askable(schedule.value.trim())) typed(); });
  // why: Enter or leaving the field asks for a name not listed (a deleted schedule's runs)
  schedule.addEventListener("change", () => { if (!isShown(filters())) refilter(); });
  status.addEventListener("change", () => { pending(); refilter(); });
  await render(); // why: not the names too: the list shows and follows without them
  const refresh = debounce(render, 300); // why: one reload per burst of events
  // why: executor events: a run held by an executor gone shows as "running?", and back
  return follow({}, (m) => /^(run|executor)\./.test(m.type) && refresh(), againLive(liveBadge(live), render));
}

const PAGE = 50; // runs a page

export function outputViewer(run, output) {
  const search = el("input", { type: "search", placeholder: "Search the output", class: "output-search" });
  const views = {};
  // why: how much a capped stream kept is the server's note (`stdout_note`, the CLI's marker:
  // one rule, domain/runs.truncation), not "truncated" alone (newcomer21a #14)
  const box = el("div", { class: "output-viewer" });
  for (const stream of ["stdout", "stderr"]) {
    const text = output[stream] || "";
    if (!text && stream === "stderr") continue;
    views[stream] = el("pre", { class: `output ${stream}` }, text || "(no output)");
    // why: nothing to download beside "(no output)" (newcomer20a #3)
    const link = text ? el("a", { href: "#", class: "download", onclick: (e) => { e.preventDefault(); download(run.run_id, stream).catch((err) => box.prepend(errorBox(err))); } }, "download") : "";
    box.append(el("h2", {}, `${stream} `, el("span", { class: "small" }, link),
      output[`${stream}_truncated`] ? el("span", { class: "note", "data-truncated": stream }, ` ${output[`${stream}_note`] || "truncated"}`) : ""), views[stream]);
  }
  if (output.result !== undefined && output.result !== null) {
    box.append(el("h2", {}, "result"), el("pre", { class: "output" }, JSON.stringify(output.result, null, 2)));
  }
  // why: a search said nothing of how many it found, nor that a miss may be past the cut (newcomer21a #14)
  const found = el("span", { class: "small", id: "output-found", role: "status" });
  const cut = ["stdout", "stderr"].some((stream) => output[`${stream}_truncated`]);
  search.addEventListener("input", () => {
    let n = 0;
    for (const [stream, pre] of Object.entries(views)) n += highlight(pre, output[stream] || "", search.value);
    found.textContent = !search.value ? "" : n ? ` ${n} match${n === 1 ? "" : "es"}` : ` no match${cut ? " in the output kept" : ""}`;
  });
  return el("div", {}, search, found, box);
}

/** Marks `needle` in the output; how many times it is there. */
function highlight(pre, text, needle) {
  if (!needle) { pre.textContent = text || "(no output)"; return 0; }
  const parts = text.split(needle);
  pre.replaceChildren(...parts.flatMap((p, i) => (i ? [el("mark", {}, needle), p] : [p])));
  return parts.length - 1;
}

async function download(runId, stream) {
  // why: a plain link cannot send the bearer token; fetch it and hand the browser a blob
  const res = await reach(`/api/v1/runs/${runId}/output?download=${stream}`, {
    headers: token.get() ? { Authorization: `Bearer ${token.get()}` } : {},
  });
  if (!res.ok) throw new ApiError(res.status, (await res.json().catch(() => ({}))).detail || res.statusText);
  const name = (res.headers.get("content-disposition") || "").match(/filename="(.+)"/)?.[1] || `${stream}.txt`;
  const url = URL.createObjectURL(await res.blob());
  el("a", { href: url, download: name }).click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** One run, live: it is drawn again when one of its events arrives (a cancel shows once done). */
export async function runPage(id) {
  const here = place(); // why: a late answer must not draw over the page shown after this one
  const live = el("span", { id: "live" });
  let left = false; // why: nothing more to ask once left
  const render = async () => {
    const run = await api(`/runs/${encodeURIComponent(id)}`);
    const output = await api(`/runs/${encodeURIComponent(run.run_id)}/output`);
    here().replaceChildren(...runView(run, output, live, render));
    return run;
  };
  let run = await render();
  const refresh = debounce(() => left || render().then((r) => { run = r; }).catch((err) => here().prepend(errorBox(err))), 300);
  // why: its executor going offline makes it "running?" (held), and back: as a fresh load shows
  // (newcomer21a #4: an open page said "running" for as long as no run event came)
  const about = (m) => m.data.event?.run_id === run.run_id
    || (m.type.startsWith("executor.") && !!run.executor && m.data.event?.name === run.executor);
  // why: all events, not ?schedule=: a deleted schedule's runs stay, its name is a 404 there
  const stop = follow({}, (m) => about(m) && refresh(), againLive(liveBadge(live), refresh));
  return () => { left = true; stop(); };
}

/** When the run finished, naming the attempt whose result it shows if a later one: "started"
 * above is the first attempt's (03:55:00 + 40.5 s did not read as 03:56:30). */
function finishedBy(run, tried) {
  const mine = (run.attempt || 1) > 1 && run.finished_at ? tried.find((a) => a.attempt === run.attempt) : null;
  const earlier = tried.filter((a) => a.attempt < run.attempt);
  // why: after attempts handed back before they started, "started" names this one already
  if (!mine || earlier.every((a) => a.fate === "handed_back")) return local(run.finished_at);
  return `${local(run.finished_at)} (attempt ${mine.attempt}${mine.executor ? ` on ${mine.executor}` : ""}, started ${local(mine.started_at)})`;
}

/** When the run's job first started: an attempt handed back before it started is no start. */
function startedBy(run, tried) {
  const unstarted = tried.filter((a) => a.fate === "handed_back");
  const first = tried.find((a) => a.fate !== "handed_back");
  if (!unstarted.length || !first || !first.started_at) return local(run.started_at);
  return `${local(first.started_at)} (attempt ${unstarted.map((a) => a.attempt).join(", ")} handed back before it started)`;
}

function attemptLine(a, secs) {
  const where = a.executor ? ` on ${a.executor}` : "";
  if (a.fate === "handed_back") return `#${a.attempt}${where}: handed back before it started${a.detail ? ` (${a.detail})` : ""}`;
  return `${local(a.started_at, secs)}${where}: ${a.fate.replace("_", " ")}${a.detail ? ` (${a.detail})` : ""}`;
}

function runView(run, output, live, render) {
  const cancel = ["triggered", "running", "retrying", "deferred"].includes(run.status)
    ? el("button", { class: "danger writer", id: "cancel-run", onclick: async () => {
      const reason = await confirmAction(`Cancel run ${shortId(run.run_id)} of ${run.schedule}?`);
      if (reason === null) return;
      try {
        await api(`/runs/${run.run_id}/cancel`, { method: "POST", body: { reason } });
        await render();
      } catch (err) {
        main().prepend(errorBox(err));
      }
    } }, "Cancel run") : "";
  const facts = [
    ["schedule", el("a", { href: `#/s/${encodeURIComponent(run.schedule)}` }, run.schedule)],
    // why: the CLI says "succeeded (attempt 2)", the runs table "#2" (newcomer20a #15)
    ["status", [runBadge(run.status, run.offline), run.attempt > 1 ? ` (attempt ${run.attempt})` : "", run.offline ? ` ${plainTimes(run.offline)}` : ""]], ["fired", isUtc(YOUR_ZONE) ? utc(run.fire_time) : `${local(run.fire_time)} your time · ${utc(run.fire_time)}`],
    ["triggered", run.manual || run.backfill_of
      ? `${run.manual ? "manually" : "as a backfill of that fire"} by ${run.triggered_by}${run.trigger_reason ? `: ${run.trigger_reason}` : ""}` : "on schedule"],
    // why: a run no executor took is lost for its target (newcomer20a #3): say which
    ["target", run.target || "default"], ["executor", run.executor || "–"], ["started (your time)", startedBy(run, output.attempts || [])], ["finished (your time)", finishedBy(run, output.attempts || [])],
    ["took", seconds(run.duration_s)], ["late", seconds(run.lateness_s)], ["exit code", run.exit_code ?? "–"],
    ["error", plainTimes(run.error ? `${run.error_attempt ? `attempt ${run.error_attempt}: ` : ""}${run.error}` : run.reason || "–")],
  ];
  const tried = output.attempts || [];
  if (tried.length > 1 || tried.some((a) => a.fate === "abandoned")) {
    // why: the row is the latest attempt; an earlier one whose executor died shows only here
    const secs = anySeconds(tried.map((a) => a.started_at)); // why: 14:25 above 14:26:33 (newcomer21a #11)
    facts.push(["attempts (your time)", el("ol", { id: "attempts" }, tried.map((a) => el("li", {}, attemptLine(a, secs))))]);
  }
  return [el("h1", {}, "Run ", el("code", {}, shortId(run.run_id)), runBadge(run.status, run.offline), cancel, live),
    el("div", { class: "card" }, el("dl", { class: "kv" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))),
    outputViewer(run, output)];
}
