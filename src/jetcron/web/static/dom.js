// Small DOM and formatting helpers shared by the pages.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) node.append(c);
  return node;
}

export const main = () => document.getElementById("main");

let pages = 0; // pages shown so far (the router's count)

/** The router shows a new page: whether it is still the one shown, after an await. */
export function newPage() {
  const mine = ++pages;
  return () => mine === pages;
}

/** The page's place, as asked for now: after an await, `here()` is the page if the console is
 * still at this address and showing this page, else a detached element, so a slow answer never
 * draws over the page the operator went to meanwhile (a late Health drew over Executors; a
 * late run or form over the runs page, or over the same address opened again). */
export function place() {
  const at = location.hash, mine = pages;
  return () => (location.hash === at && mine === pages ? main() : document.createElement("main"));
}

/** A table: columns [label, cell(row)], rows; narrow screens show it as cards. */
export function table(columns, rows, { onRow, key, rowClass = () => undefined } = {}) {
  const head = el("thead", {}, el("tr", {}, columns.map(([label]) => el("th", {}, label))));
  const body = el("tbody", {}, rows.map((row) => el("tr", {
    class: [onRow ? "clickable" : "", rowClass(row) || ""].join(" ").trim() || undefined, "data-key": key ? key(row) : undefined,
    onclick: onRow ? () => onRow(row) : undefined,
  }, columns.map(([label, cell]) => el("td", { "data-label": label }, cell(row))))));
  return el("div", { class: "scroll" }, el("table", { class: "cards" }, head, body));
}

export function badge(text) {
  return el("span", { class: `badge ${text}` }, String(text).replace("_", " "));
}

/** A run's status badge: `running?` with the reason as its title while the executor that holds
 * it is offline (the answer's `offline`; the rule: projections/held.py). */
export function runBadge(status, offline) {
  const b = badge(status);
  if (offline) { b.textContent += "?"; b.title = offline; }
  return b;
}

/** The browser's zone: times without a zone name are in it ("your time"; the page footer says which). */
export const YOUR_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "your browser's zone";

/** Whether a zone is UTC under any of its names (Etc/UTC, GMT, Zulu…: the browser resolves
 * them all to "UTC"), so its times would read the same as the UTC ones beside them. */
export function isUtc(tz) {
  try { return new Intl.DateTimeFormat("en", { timeZone: tz }).resolvedOptions().timeZone === "UTC"; } catch { return false; }
}

/** A time in your zone with its UTC below it; only one of them when your zone is UTC. */
export function localAndUtc(iso, secs) {
  return isUtc(YOUR_ZONE) ? el("div", {}, local(iso, secs)) : [el("div", {}, local(iso, secs)), el("div", { class: "small" }, utc(iso, secs))];
}

/** Whether any of these times has seconds: a column shows them all with seconds, or none.
 * why: "09:43Z" above "09:43:10Z" in one column read as two formats (newcomer20a #15) */
export function anySeconds(isos) {
  return isos.some((iso) => iso && new Date(iso).getUTCSeconds() !== 0);
}

/** Times inside a server's text (a note, a reason) as the console writes UTC: "2026-12-03
 * 09:56:53Z", never ISO with microseconds (newcomer20a #12). */
export function plainTimes(text) {
  return String(text).replace(/\b(\d{4}-\d\d-\d\d)T(\d\d:\d\d(?::\d\d)?)(?:\.\d+)?(?:Z|\+00:00)/g, "$1 $2Z");
}

// secs: show seconds (true), not (false), or only when not :00 (undefined)
function wall(iso, tz, secs) {
  const options = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (secs ?? new Date(iso).getUTCSeconds() !== 0) options.second = "2-digit"; // why: @every 10s fires differ in seconds
  return new Intl.DateTimeFormat(undefined, tz ? { ...options, timeZone: tz } : options).format(new Date(iso));
}

/** "Dec 2, 14:05": your time (the browser's zone), labelled where it is shown, not per value.
 * why: the browser names zones by locale ("EST" but "GMT+1"); one label per page reads the same everywhere. */
export function local(iso, secs) {
  if (!iso) return "–";
  try { return wall(iso, undefined, secs); } catch { return iso; }
}

/** "Dec 3, 03:00 CET": a fire in its schedule's zone, with the abbreviation the server gives
 * (pytz's, as the CLI prints it); the zone's name when there is none. */
export function zoned(iso, tz, abbr, secs) {
  if (!iso) return "–";
  try { return `${wall(iso, tz, secs)} ${abbr || tz}`; } catch { return iso; }
}

/** "2026-12-02 13:05Z" (seconds when not :00, as @every fires need, or as `secs` says): UTC, as the CLI prints it. */
export function utc(iso, secs) {
  if (!iso) return "–";
  const at = new Date(iso).toISOString(); // why: answers may carry an offset; show UTC
  const shown = secs ?? at.slice(17, 19) !== "00";
  return `${at.slice(0, shown ? 19 : 16).replace("T", " ")}Z`;
}

/** Seconds as the CLI and schedule files write a duration: 30s, 1h, 1h30m, 2d. */
export function duration(value) {
  if (value === null || value === undefined) return "none";
  let rest = Math.round(value);
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (rest >= size) { parts.push(`${Math.floor(rest / size)}${unit}`); rest %= size; }
  }
  return parts.join("") || "0s";
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(1)} s`;
}

/** One line saying which filters of the address were dropped, and why ("" when none).
 * why: `#/runs?status=bogus` showed every run without a word (newcomer21a #7) */
export function droppedNote(dropped, why) {
  return dropped.length ? el("p", { class: "note", id: "dropped-filter", role: "status" }, `Not filtered by ${dropped.join(", ")}: ${why}.`) : "";
}

export function errorBox(err) {
  return el("div", { class: "error", role: "alert" }, err.message || String(err));
}

/** Ask before a change: resolves to the reason given, or null when cancelled; the reason box
 * starts with `reason` (the one typed before a save the server refused). */
export function confirmAction(text, reason = "") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-reason").value = reason;
  // why: Esc closes a dialog without a value, which keeps the last one's: a past "ok" would confirm
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? document.getElementById("confirm-reason").value : null);
    }, { once: true });
  });
}

/** Fire times: in the zone, in UTC (one column when the zone is UTC), a DST column only when
 * DST did something, and a Skipped column only when an operator skipped one of them. */
export function fireTable(fires, zoneLabel) {
  const secs = anySeconds(fires.map((f) => f.utc));
  const columns = fires.every((f) => isUtc(f.tz)) ? [] : [[zoneLabel, (f) => zoned(f.utc, f.tz, f.abbr, secs)]];
  columns.push(["UTC", (f) => utc(f.utc, secs)]);
  if (fires.some((f) => f.dst && f.dst.length)) columns.push(["DST", (f) => el("span", { class: "note" }, f.dst.join(" "))]);
  // why: a skipped fire is still a fire of the spec, but it will not run: say so beside it
  if (fires.some((f) => f.skipped)) columns.push(["Skipped", (f) => (f.skipped ? el("span", { class: "note skipped" }, f.skipped) : "")]);
  return table(columns, fires, { key: (f) => f.utc });
}
