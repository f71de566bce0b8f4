// Health (problems and the system at a glance) and the executors online.
import { api } from "./api.js";
import { confirmAction, el, errorBox, local, main, table } from "./dom.js";

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
  const [health, status] = await Promise.all([api("/health"), api("/status")]);
  const s = status;
  main().replaceChildren(el("h1", {}, "Health ", el("span", { class: `badge ${health.healthy ? "succeeded" : "failed"}`, id: "healthy" }, health.healthy ? "healthy" : "problems")),
    health.problems.length ? table([["Problem", (p) => p.kind.replaceAll("_", " ")], ["Subject", (p) => p.subject], ["Detail", (p) => p.detail]], health.problems) : el("p", {}, "No problems."),
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

export async function executorsPage() {
  const rows = await api("/executors");
  main().replaceChildren(el("h1", {}, "Executors"), rows.length ? table([
    ["Name", (e) => e.name], ["Targets", (e) => [...e.targets, ...e.tags.map((t) => `tag:${t}`)].join(", ")],
    ["Running", (e) => String(e.running.length)],
    ["Shell", (e) => (e.allow_shell == null ? "–" : e.allow_shell ? "yes" : "no")],
    ["CPU", (e) => (e.cpu_percent == null ? "–" : `${Math.round(e.cpu_percent)}%`)],
    ["Memory", (e) => (e.memory_percent == null ? "–" : `${Math.round(e.memory_percent)}%`)],
    ["Clock", (e) => (e.clock_offset_s == null ? "–" : `${e.clock_offset_s >= 0 ? "+" : ""}${e.clock_offset_s.toFixed(3)} s`)],
    ["Actions", (e) => e.actions.join(", ") || "–"], ["Seen (your time)", (e) => local(e.seen_at || e.host_time)],
  ], rows, { key: (e) => e.name }) : el("p", {}, "No executor online."));
}
