// Create or edit a schedule: the fields people set most, a zone picker and a live preview of the
// next fires in the chosen zone with DST notes (GET /api/v1/preview, the CLI's `preview`).
import { api } from "./api.js";
import { confirmAction, duration, el, errorBox, fireTable, main } from "./dom.js";
import { debounce } from "./schedules.js";

/** argv from a command line: words split on spaces, "double" or 'single' quotes keep spaces.
 * A quote left open is an error, as in a shell (it was kept as part of the word). */
export function argv(text) {
  const words = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(text))) {
    if (m[3] && /^["']/.test(m[3])) throw new Error(`command: the quote before ${m[3]} is not closed`);
    words.push(m[1] ?? m[2] ?? m[3]);
  }
  return words;
}

function quoted(words) {
  return words.map((w) => (/\s/.test(w) ? `"${w}"` : w)).join(" ");
}

/** A timeout as the definition shows it ("1h", not "3600s"); a fraction of a second in ms,
 * as durations take no decimals ("1.5s" was refused on save). */
function timeoutText(value) {
  if (value == null) return "none";
  return Number.isInteger(value) ? duration(value) : `${Math.round(value * 1000)}ms`;
}

let zonesCache = null;

async function zoneList() {
  zonesCache = zonesCache || (await api("/zones"));
  return el("datalist", { id: "zones" }, zonesCache.map((z) => el("option", { value: z })));
}

function field(label, input, help) {
  return el("label", {}, label, input, help ? el("span", { class: "small" }, help) : "");
}

export async function formPage(name) {
  const row = name ? await api(`/schedules/${encodeURIComponent(name)}`, { params: { fires: 0 } }) : null;
  const d = row ? row.definition : null;
  const kind = d ? (d.job.command ? "command" : d.job.shell ? "shell" : "action") : "command";
  const inputs = {
    name: el("input", { id: "f-name", name: "name", required: true, value: name || "", disabled: !!name, autocomplete: "off", pattern: "[A-Za-z0-9_.\\-]{1,64}",
      title: "use 1-64 letters, digits, '_', '.' or '-'" }),
    spec: el("input", { id: "f-spec", name: "spec", required: true, value: d ? d.spec : "0 * * * *", autocomplete: "off" }),
    tz: el("input", { id: "f-tz", name: "tz", list: "zones", value: d ? d.tz : Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" }),
    kind: el("select", { id: "f-kind" }, ["command", "shell", "action"].map((k) => el("option", { value: k, selected: k === kind }, k))),
    job: el("input", { id: "f-job", required: true, autocomplete: "off",
      value: d ? (d.job.command ? quoted(d.job.command) : d.job.shell || d.job.action) : "" }),
    target: el("input", { id: "f-target", value: d ? d.target : "default" }),
    tags: el("input", { id: "f-tags", value: d ? (d.tags || []).join(", ") : "", placeholder: "comma, separated" }),
    description: el("input", { id: "f-description", value: d ? d.description : "" }),
    timeout: el("input", { id: "f-timeout", value: d ? timeoutText(d.timeout_s) : "1h" }),
    retries: el("input", { id: "f-retries", type: "number", min: 0, value: d ? d.retry.max_attempts - 1 : 0 }),
    overlap: el("select", { id: "f-overlap" }, ["skip", "buffer_one", "allow", "cancel_previous"].map((o) => el("option", { value: o, selected: d && d.overlap === o }, o))),
  };
  const preview = el("div", { id: "preview", class: "card", "aria-live": "polite" });
  const problems = el("div", {});
  const form = el("form", { class: "card", id: "schedule-form", onsubmit: (e) => { e.preventDefault(); save(); } },
    el("div", { class: "grid" },
      field("Name", inputs.name), field("Spec", inputs.spec, "cron (5 fields), @daily, @every 15m, @at 2026-12-24T18:00"),
      field("Time zone", inputs.tz), field("Runs a", inputs.kind),
      field("Command / shell line / action", inputs.job), field("Target", inputs.target),
      field("Tags", inputs.tags), field("Description", inputs.description),
      field("Timeout", inputs.timeout, "e.g. 30s, 10m; none"), field("Retries", inputs.retries),
      field("Overlap", inputs.overlap)),
    problems,
    el("div", { class: "toolbar" }, el("button", { class: "primary", type: "submit", id: "f-save" }, name ? "Save changes" : "Create schedule"),
      el("a", { class: "button", href: name ? `#/s/${encodeURIComponent(name)}` : "#/" }, "Cancel")));
  main().replaceChildren(el("h1", {}, name ? `Edit ${name}` : "New schedule"), form,
    el("h2", {}, "Next fires"), preview, await zoneList());

  let asked = 0; // why: an older, slower answer must not replace the preview of what is typed now
  const showPreview = debounce(async () => {
    const mine = ++asked;
    try {
      const shown = await api("/preview", { params: { spec: inputs.spec.value, tz: inputs.tz.value || "UTC", n: 5 } });
      if (mine !== asked) return;
      preview.replaceChildren(shown.fires.length ? fireTable(shown.fires, `In ${shown.tz}`) : el("p", {}, "No fires after now."),
      el("p", { class: "small" }, shown.interval_like ? "Interval-like: fires at every matching wall time, both passes of a repeated hour." : "Fixed-time: a repeated hour fires once; a skipped hour fires when the gap ends."));
    } catch (err) {
      if (mine === asked) preview.replaceChildren(errorBox(err));
    }
  }, 250);
  // why: the browser's own "Please match the requested format." does not say which format
  const nameRule = () => inputs.name.setCustomValidity(inputs.name.validity.patternMismatch ? `invalid schedule name '${inputs.name.value}': ${inputs.name.title}` : "");
  inputs.name.addEventListener("input", nameRule);
  inputs.spec.addEventListener("input", showPreview);
  inputs.tz.addEventListener("input", showPreview);
  showPreview();

  function body() {
    const job = inputs.kind.value === "command" ? argv(inputs.job.value) : inputs.job.value.trim();
    return {
      spec: inputs.spec.value.trim(), tz: inputs.tz.value.trim() || "UTC", [inputs.kind.value]: job,
      target: inputs.target.value.trim() || "default", description: inputs.description.value,
      tags: inputs.tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      timeout: inputs.timeout.value.trim() || "1h", retries: Number(inputs.retries.value || 0),
      overlap: inputs.overlap.value,
    };
  }

  async function save() {
    problems.replaceChildren();
    try {
      const data = body(); // why: a field the form cannot read says so before anything is asked
      if (name) {
        const reason = await confirmAction(`Save the changes to ${name}?`);
        if (reason === null) return;
        await api(`/schedules/${encodeURIComponent(name)}`, { method: "PATCH", body: data, ifMatch: row.version, params: { reason } });
        location.hash = `#/s/${encodeURIComponent(name)}`;
      } else {
        const made = await api("/schedules", { method: "POST", body: { name: inputs.name.value.trim(), ...data } });
        location.hash = `#/s/${encodeURIComponent(made.name)}`;
      }
    } catch (err) {
      problems.replaceChildren(errorBox(err));
    }
  }
}
