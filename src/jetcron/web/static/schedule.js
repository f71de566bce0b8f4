// One schedule: definition, actions (with confirmation), next fires, fire timeline, durations,
// runs with their output, audit with diffs; runs and state refresh live.
import { api, ApiError, follow } from "./api.js";
import { durations, legend, shownFate, timeline } from "./charts.js";
import { anySeconds, badge, confirmAction, el, errorBox, fireTable, local, main, place } from "./dom.js";
import { quoted } from "./form.js";
import { againLive, liveBadge } from "./stale.js";
import { outputViewer, rowKey, runsTable, shortId } from "./runs.js";
import { debounce } from "./schedules.js";

const PAGE = 50; // runs a page

/** Charts are drawn at their box's pixel width, so their text keeps its size on any screen. */
function width(box) {
  return Math.max(240, box.clientWidth - 26);
}

/** A field's value as `schedule show` says it: durations as written ("30s"), lists joined, a
 * command as a shell would take it (the form's rule, quoted()), maps as KEY=VALUE (secret_env: references, never values). */
function fieldValue(key, v) {
  if (v === null || v === undefined) return "none";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (Array.isArray(v)) return !v.length ? "none" : key === "command" ? quoted(v) : v.join(", ");
  if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${k}=${typeof x === "string" ? x : JSON.stringify(x)}`).join(", ") || "none";
  return v === "" ? '""' : String(v);
}

/** The definition: every field set (`fields`, the names and units of `schedule show` and the
 * CLI's options, in their table's order), then the rest at their defaults, folded.
 * why: from the one field table the API sends, not a hand-picked list that drifts from it */
function definitionList(row) {
  const rows = (fields) => Object.entries(fields).flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-field": k }, fieldValue(k, v))]);
  const made = [["created", row.created_at, row.created_by], ["updated", row.updated_at, row.updated_by]]
    .filter(([, at]) => at).flatMap(([k, at, by]) => [el("dt", {}, k), el("dd", {}, `${local(at)} your time${by ? ` by ${by}` : ""}`)]);
  const defaults = Object.keys(row.defaults || {}).length;
  return el("div", { id: "definition" },
    el("dl", { class: "kv" }, rows(row.fields || {}), made),
    defaults ? el("details", { id: "defaults" }, el("summary", { class: "small" }, `${defaults} more fields at their defaults`),
      el("dl", { class: "kv" }, rows(row.defaults))) : "");
}

async function act(name, verb, row) {
  const asked = {
    pause: `Pause schedule ${name}?`, resume: `Resume schedule ${name}?`, trigger: `Run schedule ${name} now?`,
    // why: a delete stops what runs (README, Jobs across crashes); say so before, not after
    delete: `Delete schedule ${name}? A run of it still running is cancelled.`,
  };
  const reason = await confirmAction(asked[verb]);
  if (reason === null) return false;
  if (verb === "delete") {
    await api(`/schedules/${encodeURIComponent(name)}`, { method: "DELETE", ifMatch: row.version, params: { reason } });
    location.hash = "#/";
    return false;
  }
  return (await api(`/schedules/${encodeURIComponent(name)}/${verb}`, { method: "POST", body: { reason } })) || {};
}

/** What Run now started: its run, linked (a run no executor takes yet is not in the table). */
function started(answer) {
  return el("p", { id: "started", role: "status" }, "Started run ",
    el("a", { href: `#/run/${encodeURIComponent(answer.run_id)}` }, el("code", {}, shortId(answer.run_id))));
}

/** The button an operator pressed, or the one drawn in its place (Pause becomes Resume). */
const SUCCESSOR = { pause: "resume", resume: "pause" };
/** Focus the toolbar button of `verb`, or the one drawn in its place (Resume after Pause). */
const focusButton = (verb) => (document.getElementById(`do-${verb}`) || document.getElementById(`do-${SUCCESSOR[verb]}`))?.focus();

function auditList(entries) {
  const newest = entries.slice().reverse().slice(0, 30);
  const secs = anySeconds(newest.map((e) => e.at)); // why: one way down the list, as a column
  return el("div", {}, newest.map((e) => el("div", { class: "card audit" },
    el("div", {}, el("strong", {}, e.type.replace("schedule.", "").replace("run.", "run ")), ` by ${e.actor} · ${local(e.at, secs)} your time`,
      e.reason ? el("span", { class: "small" }, ` — ${e.reason}`) : ""),
    (e.changes || []).map(([field, old, now]) => el("div", { class: "diff" }, el("code", {}, field), " ",
      old === null && !e.type.endsWith(".updated") ? "" : [el("span", { class: "old" }, shown(old, field)), " → "],
      el("span", { class: "new" }, shown(now, field)))))));
}

/** A changed value as the CLI says it (the server sends the units the CLI takes: "30s"); a
 * command quoted as the definition shows it, so 3 words never read as 6. */
function shown(v, field) {
  if (v === null || v === undefined) return "none";
  if (Array.isArray(v)) return !v.length ? "none" : field === "command" ? quoted(v) : v.join(", ");
  if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${k}=${typeof x === "string" ? x : JSON.stringify(x)}`).join(", ") || "none";
  return String(v);
}

/**
 * A schedule page's runs (and their durations chart): the newest 50, and a page more per
 * "Older runs" (the API's before-cursor after the last row). The load it returns is the live
 * redraw: it asks for the rows shown and a page more, and keeps them down to the same last
 * row (whose cursor still follows it), so older pages stay and new runs go on top. One load at
 * a time, so an older page and a redraw never cross; none once the page is `gone()`.
 */
function runsPart(name, sections, showOutput, gone) {
  let rows = [], cursor = null, loading = Promise.resolve();
  const queued = (load) => (loading = loading.catch(() => {}).then(() => (gone() ? null : load())));
  // why: the button and the note stay the same elements across redraws (a live page redraws
  // every 2 s while runs come): a button drawn anew under the pointer would swallow the click
  const older = el("button", { id: "older-runs", hidden: true, onclick: () => { older.disabled = true; queued(loadOlder); } }, "Older runs");
  const count = el("span", { class: "small", id: "runs-count" });
  const list = el("div", {}), bar = el("div", { class: "toolbar", hidden: true }, older, count);
  sections.runs.replaceChildren(list, bar);
  const draw = () => {
    list.replaceChildren(rows.length ? runsTable(rows, showOutput, { ofSchedule: true }) : el("p", {}, "No runs yet."));
    [older.hidden, older.disabled] = [!cursor, false];
    count.textContent = rows.length > PAGE ? `the newest ${rows.length} runs` : "";
    bar.hidden = older.hidden && !count.textContent;
    sections.durations.replaceChildren(durations(rows.slice(0, PAGE), width(sections.durations)));
  };
  const loadNewest = async () => {
    // why: by rowKey: a skipped fire's row has no run id, and null matched the first such row
    const paged = rows.length > PAGE ? rowKey(rows[rows.length - 1]) : null;
    // why current: this schedule's runs, not an earlier one's of the same name (as `schedule show`)
    const page = await api("/runs", { params: { schedule: name, current: true, limit: paged ? rows.length + PAGE : PAGE } });
    const last = paged ? page.runs.findIndex((r) => rowKey(r) === paged) : -1;
    if (last >= 0) rows = page.runs.slice(0, last + 1);
    else [rows, cursor] = [page.runs, page.next_cursor];
    draw();
  };
  const loadOlder = async () => {
    try {
      const page = await api("/runs", { params: { schedule: name, current: true, limit: PAGE, cursor } });
      [rows, cursor] = [rows.concat(page.runs), page.next_cursor];
    } catch (err) {
      draw(); // why: the button again, to try once more
      list.append(errorBox(err));
      return;
    }
    draw();
  };
  return () => queued(loadNewest);
}

export async function schedulePage(name) {
  const here = place(); // why: "No such schedule" (a late 404) not over the page shown meanwhile
  const path = `/schedules/${encodeURIComponent(name)}`;
  const head = el("div", {});
  const sections = {
    definition: el("div", { class: "card" }), next: el("div", { id: "next-fires" }), timeline: el("div", { class: "card" }),
    durations: el("div", { class: "card" }), runs: el("div", { id: "schedule-runs" }), output: el("div", { id: "run-output" }),
    audit: el("div", {}),
  };
  const live = el("span", { id: "live" });
  const notice = el("div", {});
  // why: a refresh may land after the console left this page (deleted here: a 404); it must not
  // draw over the page shown now
  let left = false;
  main().replaceChildren(head, notice,
    el("h2", {}, "Definition"), sections.definition,
    el("h2", {}, "Next fires"), sections.next,
    el("h2", {}, "Recent fires"), sections.timeline,
    el("h2", {}, "Durations and lateness"), sections.durations,
    el("h2", {}, "Runs ", live), sections.runs, sections.output,
    el("h2", {}, "Audit"), sections.audit);

  const showOutput = async (run) => {
    if (!run.run_id) return;
    const output = await api(`/runs/${run.run_id}/output`);
    sections.output.replaceChildren(el("h2", {}, "Output of ", el("a", { href: `#/run/${run.run_id}` }, el("code", {}, shortId(run.run_id)))), outputViewer(run, output));
  };

  const renderHead = async () => {
    const row = await api(path, { params: { fires: 0 } });
    const button = (verb, label, cls = "") => el("button", { class: `${cls} writer`, id: `do-${verb}`, onclick: async () => {
      try {
        const answer = await act(name, verb, row);
        if (!answer) return;
        notice.replaceChildren(answer.run_id ? started(answer) : "");
        await renderAll();
        // why: the button pressed was drawn anew; focus left on <body> leaves a keyboard or
        // screen reader user nowhere (newcomer20a #13)
        focusButton(verb);
      } catch (err) {
      // why: deleted meanwhile (here or elsewhere): say so, not "active" beside a 404
      if (err instanceof ApiError && err.status === 404) notFound();
      else head.append(errorBox(err));
    }
    } }, label);
    // why: a live redraw (the pause's own event) replaces the button focus was put on
    const focused = head.contains(document.activeElement) ? document.activeElement.id : "";
    head.replaceChildren(
      el("h1", {}, row.name, badge(row.state), el("span", { class: "small" }, `v${row.version}`)),
      row.paused_reason ? el("p", { class: "small" }, `paused: ${row.paused_reason}`) : "",
      // why: a completed schedule can be neither paused nor resumed: only a new spec revives it
      row.state === "completed" ? el("p", { class: "small", id: "completed" }, "completed: it fires no more; edit it to give it a new spec") : "",
      el("div", { class: "toolbar" },
        { paused: button("resume", "Resume", "primary"), active: button("pause", "Pause") }[row.state] || "",
        button("trigger", "Run now"),
        el("a", { class: "button writer", href: `#/edit/${encodeURIComponent(name)}` }, "Edit"),
        button("delete", "Delete", "danger")));
    if (focused.startsWith("do-")) focusButton(focused.slice(3));
    sections.definition.replaceChildren(definitionList(row));
    return row;
  };

  const renderRuns = runsPart(name, sections, showOutput, () => left);

  // why: next fires pass and the timeline grows with every run, not only with a schedule event
  // (newcomer20a #1): drawn again on run events, and when the first next fire has passed
  let firesAsked = 0, firesTimer = null;
  const renderFires = async () => {
    const mine = ++firesAsked;
    const [next, fires] = await Promise.all([api(`${path}/next`, { params: { n: 5 } }), api(`${path}/fires`, { params: { limit: 200 } })]);
    if (mine !== firesAsked || left) return; // why: an older answer must not draw over a newer one
    clearTimeout(firesTimer);
    const soonest = next.fires.length ? Date.parse(next.fires[0].utc) - Date.now() : Infinity;
    firesTimer = setTimeout(() => renderFires().catch(() => {}), Math.min(Math.max(soonest + 1500, 1000), 60_000));
    sections.next.replaceChildren(next.fires.length ? fireTable(next.fires, `In ${next.fires[0].tz}`) : el("p", { class: "small" }, `No fires ahead (${next.state}).`));
    const fates = [...new Set(fires.fires.map(shownFate))];
    // why: with no fire yet the axis read "09:44:50Z … 09:44:50Z" and "0 fires since"
    if (!fires.fires.length) return sections.timeline.replaceChildren(el("p", { class: "small", id: "no-fires" }, `No fires yet since ${local(fires.since)} your time.`));
    sections.timeline.replaceChildren(timeline(fires.fires, fires.since, fires.until, width(sections.timeline)), legend(fates),
      el("div", { class: "small" }, `${fires.fires.length} fires since ${local(fires.since)} your time`));
  };

  const renderAudit = async () => sections.audit.replaceChildren(auditList(await api(`${path}/audit`)));
  const renderAll = async () => { await Promise.all([renderHead(), renderRuns(), renderFires(), renderAudit()]); };
  const notFound = () => here().replaceChildren(el("h1", {}, "No such schedule"),
    el("p", { id: "not-found" }, `There is no schedule named ${name}. `, el("a", { href: "#/" }, "All schedules")));
  try {
    await renderHead(); // why: one question first; an unknown name is one 404, not five
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    notFound();
    return null;
  }
  await Promise.all([renderRuns(), renderFires(), renderAudit()]);

  // why: one redraw per burst of events, of every part an event of the burst was about (the
  // last event alone hid a pause that came with runs)
  const stale = new Set();
  const refresh = debounce(async () => {
    if (left) return;
    const parts = [...stale];
    stale.clear();
    try {
      const drawn = parts.includes("schedule") ? [renderHead(), renderAudit()] : [];
      await Promise.all([...drawn, renderFires(), ...(parts.includes("runs") ? [renderRuns()] : [])]);
    } catch (err) {
      // why: deleted meanwhile (here or elsewhere): say so, not "active" beside a 404
      if (err instanceof ApiError && err.status === 404) notFound();
      else head.append(errorBox(err));
    }
  }, 200);
  const changed = (m) => { stale.add(m.type.startsWith("schedule.") ? "schedule" : "runs"); refresh(); };
  // why: back live, what failed meanwhile (a Pause's error box, a reload) is drawn again
  const stop = follow({ schedule: name }, changed, againLive(liveBadge(live), () => { stale.add("schedule").add("runs"); refresh(); }));
  return () => { left = true; clearTimeout(firesTimer); stop(); };
}
