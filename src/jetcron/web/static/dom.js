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

/** A table: columns [label, cell(row)], rows; narrow screens show it as cards. */
export function table(columns, rows, { onRow, key } = {}) {
  const head = el("thead", {}, el("tr", {}, columns.map(([label]) => el("th", {}, label))));
  const body = el("tbody", {}, rows.map((row) => el("tr", {
    class: onRow ? "clickable" : undefined, "data-key": key ? key(row) : undefined,
    onclick: onRow ? () => onRow(row) : undefined,
  }, columns.map(([label, cell]) => el("td", { "data-label": label }, cell(row))))));
  return el("div", { class: "scroll" }, el("table", { class: "cards" }, head, body));
}

export function badge(text) {
  return el("span", { class: `badge ${text}` }, String(text).replace("_", " "));
}

/** "Dec 2, 14:05" in a zone (the browser's own when none), and the zone's short name. */
export function local(iso, tz) {
  if (!iso) return "–";
  const options = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
  if (!/:00(\.0+)?(Z|[+-]\d\d:\d\d)$/.test(iso)) options.second = "2-digit"; // why: @every 10s fires differ in seconds
  try {
    return new Intl.DateTimeFormat(undefined, tz ? { ...options, timeZone: tz } : options).format(new Date(iso));
  } catch {
    return iso;
  }
}

/** "2026-12-02 13:05Z" (seconds when not :00, as @every fires need): UTC, as the CLI prints it. */
export function utc(iso) {
  if (!iso) return "–";
  const at = new Date(iso).toISOString(); // why: answers may carry an offset; show UTC
  const secs = at.slice(17, 19) !== "00";
  return `${at.slice(0, secs ? 19 : 16).replace("T", " ")}Z`;
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(1)} s`;
}

export function errorBox(err) {
  return el("div", { class: "error", role: "alert" }, err.message || String(err));
}

/** Ask before a change: resolves to the reason given, or null when cancelled. */
export function confirmAction(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-reason").value = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? document.getElementById("confirm-reason").value : null);
    }, { once: true });
  });
}

/** Fire times: in the zone, in UTC, and a DST column only when DST did something. */
export function fireTable(fires, zoneLabel) {
  const columns = [[zoneLabel, (f) => local(f.utc, f.tz)], ["UTC", (f) => utc(f.utc)]];
  if (fires.some((f) => f.dst && f.dst.length)) columns.push(["DST", (f) => el("span", { class: "note" }, f.dst.join(" "))]);
  return table(columns, fires);
}
