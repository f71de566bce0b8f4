// Pictures as inline SVG: a success sparkline, a fire timeline coloured by fate, a duration chart.
import { utc, zoned } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

export const FATE_COLOURS = {
  triggered: "#1f9d55", succeeded: "#1f9d55", skipped: "#a0a7b4", buffered: "#8b9cc9",
  missed: "#d64545", lost: "#d64545", failed: "#d64545", timed_out: "#d64545", cancelled: "#c77c02",
  deferred: "#c77c02", paused: "#d8dce3", not_created: "#eef1f5", deleted: "#eef1f5", unrecorded: "#7c3aed",
  pending: "#2457c5", upcoming: "#c9d6f5", running: "#2457c5", retrying: "#c77c02",
};

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function title(text) {
  return svg("title", {}, text);
}

/** The last runs as small bars (green ok, red failed), and the success rate. */
export function sparkline(runs, width = 90, height = 20) {
  const shown = runs.slice(0, 20).reverse();
  const step = width / 20;
  const bars = shown.map((r, i) => svg("rect", {
    x: i * step, y: r.status === "succeeded" ? 2 : 8, width: step - 1.5,
    height: r.status === "succeeded" ? height - 2 : height - 8,
    fill: FATE_COLOURS[r.status] || "#a0a7b4", rx: 1,
  }, title(`${r.fire_time} ${r.status}`)));
  const node = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", class: "sparkline" }, ...bars);
  node.setAttribute("aria-label", `${rate(runs)} of the last ${shown.length} runs succeeded`);
  return node;
}

export function rate(runs) {
  const ended = runs.filter((r) => ["succeeded", "failed", "timed_out", "lost", "cancelled"].includes(r.status));
  if (!ended.length) return "–";
  return `${Math.round((100 * ended.filter((r) => r.status === "succeeded").length) / ended.length)}%`;
}

/** What a fire's mark shows: its fate, or for a triggered fire its run's status, so a failed
 * run reads red and not as a green "triggered". */
export function shownFate(f) {
  return f.fate === "triggered" && f.status ? f.status : f.fate;
}

/** Every fire in the window as a mark on a time line, coloured by its fate (see shownFate). */
export function timeline(fires, since, until, width = 600, height = 44) {
  const t0 = Date.parse(since), t1 = Date.parse(until);
  const x = (t) => 4 + ((Date.parse(t) - t0) / Math.max(1, t1 - t0)) * (width - 8);
  const marks = fires.map((f) => svg("rect", {
    x: x(f.utc) - 2, y: 6, width: 4, height: 22, rx: 1, fill: FATE_COLOURS[shownFate(f)] || "#a0a7b4",
  }, title(`${zoned(f.utc, f.tz, f.abbr)} — ${f.fate}${shownFate(f) !== f.fate ? `, ${shownFate(f)}` : ""}${f.dst && f.dst.length ? ` (${f.dst.join("; ")})` : ""}`)));
  const axis = [
    svg("line", { x1: 0, x2: width, y1: 30, y2: 30, stroke: "#c9ced6" }),
    svg("text", { x: 2, y: 42 }, utc(since)),
    svg("text", { x: width - 2, y: 42, "text-anchor": "end" }, utc(until)),
  ];
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "fire timeline" }, ...axis, ...marks);
}

/** Durations (bars) and lateness (dots) of the last runs, oldest left. */
export function durations(runs, width = 600, height = 120) {
  const shown = runs.filter((r) => r.duration_s != null || r.lateness_s != null).slice(0, 50).reverse();
  const top = Math.max(0.001, ...shown.map((r) => Math.max(r.duration_s || 0, r.lateness_s || 0)));
  const step = width / Math.max(shown.length, 10);
  const y = (v) => height - 16 - (v / top) * (height - 24);
  const parts = [];
  shown.forEach((r, i) => {
    if (r.duration_s != null) {
      parts.push(svg("rect", { x: i * step + 1, y: y(r.duration_s), width: Math.max(step - 2, 1),
        height: height - 16 - y(r.duration_s), fill: FATE_COLOURS[r.status] || "#a0a7b4" },
      title(`${r.fire_time}: took ${r.duration_s.toFixed(3)} s`)));
    }
    if (r.lateness_s != null) {
      parts.push(svg("circle", { cx: i * step + step / 2, cy: y(r.lateness_s), r: 2.5, fill: "#111827" },
        title(`${r.fire_time}: started ${r.lateness_s.toFixed(3)} s late`)));
    }
  });
  parts.push(svg("line", { x1: 0, x2: width, y1: height - 16, y2: height - 16, stroke: "#c9ced6" }));
  parts.push(svg("text", { x: width - 2, y: 10, "text-anchor": "end" }, `${top.toFixed(top < 1 ? 3 : 1)} s`));
  parts.push(svg("text", { x: 2, y: height - 3 }, "bars: duration · dots: lateness"));
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "run durations" }, ...parts);
}

export function legend(fates) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const fate of fates) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = FATE_COLOURS[fate] || "#a0a7b4";
    item.append(swatch, fate.replaceAll("_", " "));
    box.append(item);
  }
  return box;
}
