// Notifications and calendars, read-only: what `jetcron notify list` and `jetcron calendar list`
// show, from the same queries (GET /notifications, GET /calendars).
import { api } from "./api.js";
import { el, local, place, table } from "./dom.js";

/** Who a notification is about: schedules and tags, or all. */
function scope(n) {
  const named = [...n.schedules, ...n.tags.map((t) => `tag:${t}`)];
  return named.length ? named.join(", ") : "all";
}

/** How its deliveries go, as `notify list` says it; a test is said apart (it is no delivery). */
function state(r) {
  const failing = r.failing ? el("span", { class: "note" }, `failing since ${local(r.failing_since)} your time: ${r.last_error}`) : "ok";
  const test = r.tested_at ? el("div", { class: "small" }, `test ${local(r.tested_at)}: ${r.test_error ? `failed: ${r.test_error}` : "ok"}`) : "";
  return [failing, test];
}

export async function notificationsPage() {
  const here = place();
  const rows = await api("/notifications");
  here().replaceChildren(el("h1", {}, "Notifications"), rows.length ? table([
    ["Name", (r) => r.name], ["Sink", (r) => r.sink], ["Where", (r) => el("code", {}, r.where)],
    ["On", (r) => r.notification.on.join(", ")], ["For", (r) => scope(r.notification)],
    ["Delivered", (r) => String(r.delivered)], ["Retrying", (r) => String((r.retrying || []).length)],
    ["Failed", (r) => String(r.failed)], ["State", state],
  ], rows, { key: (r) => r.name }) : el("p", {}, "No notifications."));
}

/** What a calendar covers, as `calendar list` says it: windows, ranges, how many dates. */
function covers(d) {
  const parts = [...(d.windows || []), ...(d.ranges || [])];
  if (d.dates?.length) parts.push(`${d.dates.length} date(s)`);
  return parts.join("; ");
}

function usedBy(r) {
  const uses = Object.entries(r.used_by).sort(([a], [b]) => a.localeCompare(b));
  if (!uses.length) return "–";
  return uses.flatMap(([s, how], i) => [i ? ", " : "", el("a", { href: `#/s/${encodeURIComponent(s)}` }, s), ` (${how})`]);
}

export async function calendarsPage() {
  const here = place();
  const { calendars } = await api("/calendars");
  here().replaceChildren(el("h1", {}, "Calendars"), calendars.length ? table([
    ["Name", (r) => [r.name, r.definition.description ? el("div", { class: "small" }, r.definition.description) : ""]],
    ["Zone", (r) => r.definition.tz], ["Covers", (r) => el("code", {}, covers(r.definition))],
    ["Used by", usedBy], ["Version", (r) => String(r.version)],
  ], calendars, { key: (r) => r.name }) : el("p", {}, "No calendars."));
}
