// Health (problems and the system at a glance) and the executors online.
import { api } from "./api.js";
import { anySeconds, confirmAction, el, errorBox, local, main, place, plainTimes, table } from "./dom.js";

const ACKABLE = new Set(["poison_events", "rejected_run_events", "executor_offline"]);

// Acknowledge the unreadable and rejected events and the offline executors listed now
// (`jetcron health --ack`).
async function acknowledge() {
  const reason = await confirmAction("Acknowledge the unreadable and rejected events and the offline executors listed? The events stay in the log; health lists only new ones, and an executor again if it comes back and goes away.");
  if (reason === null) return;
  try {
    await api("/health/ack", { method: "POST", body: { reason } });
    await healthPage();
  } catch (err) {
    main().prepend(errorBox(err));
  }
}

export async function healthPage() {
  const here = place();
  const [health, status] = await Promise.all([api("/health"), api("/status")]);
  const s = status;
  here().replaceChildren(el("h1", {}, "Health ", el("span", { class: `badge ${health.healthy ? "succeeded" : "failed"}`, id: "healthy" }, health.healthy ? "healthy" : "problems")),
    health.problems.length ? table([["Problem", (p) => p.kind.replaceAll("_", " ")], ["Subject", (p) => p.subject], ["Detail", (p) => plainTimes(p.detail)]], health.problems) : el("p", {}, "No problems."),
    health.problems.some((p) => ACKABLE.has(p.kind)) ? el("p", {}, el("button", { id: "ack", class: "writer", onclick: acknowledge }, "Acknowledge")) : "",
    el("h2", {}, "System"),
    el("div", { class: "card" }, el("dl", { class: "kv" }, [
      ["log", `${s.stream.name}: ${s.stream.messages} events, last seq ${s.stream.last_seq}, ${s.stream.replicas} replica(s)`],
      ["views", `at seq ${s.projection.position}, ${s.projection.lag} behind`],
      ["scheduler", `${s.scheduler_replicas.length} replica(s), ticker leader ${s.ticker_leader || "none"}`],
      ["schedules", Object.entries(s.schedules).map(([k, v]) => `${v} ${k}`).join(", ") || "none"],
      ["in flight", `${s.runs_in_flight} run(s)`], ["version", s.version],
    ].flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))),
    ...(s.service?.notes || []).map((n) => el("p", { class: "note" }, n)));
}

/** Executors whose heartbeat expired, from health's `executor offline` problems (the log's
 * word, as `jetcron health` says it), each with the runs it holds (`running?` in the runs).
 * why: the page listed only the heartbeats alive, so an executor killed with a run in hand
 * vanished from it (newcomer20a #4). A problem about a target nobody serves names a target,
 * not an executor: it is listed apart. */
function offlineExecutors(health, held, online) {
  const names = new Set(online.map((e) => e.name));
  const away = health.problems.filter((p) => p.kind === "executor_offline" && !names.has(p.subject));
  const isTarget = (p) => p.detail.includes("serves this target");
  const runs = (name) => held.filter((r) => r.executor === name);
  // why: until the log says it went offline, health's `since` is when its runs started ("not
  // online; holds 1 run …"): no offline time to show
  const since = (p) => (p.detail.startsWith("not online") ? null : p.since);
  return {
    executors: away.filter((p) => !isTarget(p)).map((p) => ({ name: p.subject, since: since(p), detail: plainTimes(p.detail), held: runs(p.subject) })),
    targets: away.filter(isTarget),
  };
}

const dash = (v, shown) => (v == null ? "–" : shown(v));

function heldRuns(e) {
  if (!e.held) return String(e.running.length);
  return e.held.length ? e.held.flatMap((r, i) => [i ? ", " : "", el("a", { href: `#/run/${r.run_id}` }, el("code", {}, r.run_id.slice(0, 8)))]) : "0";
}

export async function executorsPage() {
  const here = place();
  const quietly = (promise, empty) => promise.catch(() => empty);
  const [rows, health, running, retrying] = await Promise.all([api("/executors"), quietly(api("/health"), { problems: [] }),
    ...["running", "retrying"].map((status) => quietly(api("/runs", { params: { status, limit: 500 } }), { runs: [] }))]);
  // why: the runs an executor not online holds, as health counts them (not only those whose
  // `offline` note the log already backs)
  const online = new Set(rows.map((e) => e.name));
  const held = [...running.runs, ...retrying.runs].filter((r) => r.executor && !online.has(r.executor));
  const { executors, targets } = offlineExecutors(health, held, rows);
  const all = [...rows, ...executors];
  const secs = anySeconds(all.map((e) => (e.held ? e.since : e.seen_at || e.host_time))); // why: one way a column
  here().replaceChildren(el("h1", {}, "Executors"), all.length ? table([
    ["Name", (e) => [e.name, e.detail ? el("div", { class: "small" }, e.detail) : ""]],
    ["Targets", (e) => (e.targets ? [...e.targets, ...e.tags.map((t) => `tag:${t}`)].join(", ") : "–")],
    ["Running", heldRuns],
    ["Shell", (e) => (e.allow_shell == null ? "–" : e.allow_shell ? "yes" : "no")],
    ["CPU", (e) => dash(e.cpu_percent, (v) => `${Math.round(v)}%`)],
    ["Memory", (e) => dash(e.memory_percent, (v) => `${Math.round(v)}%`)],
    ["Clock", (e) => dash(e.clock_offset_s, (v) => `${v >= 0 ? "+" : ""}${v.toFixed(3)} s`)],
    ["Actions", (e) => (e.actions || []).join(", ") || "–"],
    ["Seen (your time)", (e) => (e.held ? el("span", { class: "note" }, e.since ? `offline since ${local(e.since, secs)}` : "not online") : local(e.seen_at || e.host_time, secs))],
  ], all, { key: (e) => e.name, rowClass: (e) => (e.held ? "gone" : undefined) }) : el("p", {}, "No executor online."),
  targets.length ? el("div", { id: "unserved" }, el("h2", {}, "Targets no executor online serves"),
    el("ul", {}, targets.map((p) => el("li", {}, el("code", {}, p.subject), `: ${plainTimes(p.detail)}`)))) : "");
}
