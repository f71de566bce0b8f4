// Create or edit a schedule: the fields people set most, a zone picker and a live preview of the
// next fires in the chosen zone with DST notes (GET /api/v1/preview, the CLI's `preview`).
import { api } from "./api.js";
import { confirmAction, duration, el, errorBox, fireTable, place } from "./dom.js";
import { debounce } from "./schedules.js";

/** The quoted part at text[i] (a ' or a "): [its text, the index after it], as a POSIX shell
 * reads it: 'single' quotes keep everything; in "double" ones a backslash escapes " \ $ ` and
 * joins the next line, and is itself kept before anything else. */
function quotedPart(text, i) {
  const quote = text[i];
  let part = "";
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === quote) return [part, j + 1];
    if (quote === '"' && text[j] === "\\" && /["\\$`\n]/.test(text[j + 1] ?? "")) {
      j++;
      if (text[j] === "\n") continue; // why: a backslash ending a line joins the next one
    }
    part += text[j];
  }
  throw new Error(`command: the quote before ${text.slice(i).split(/\s/)[0]} is not closed`);
}

/** argv from a command line, split into words as a POSIX shell splits them, and nothing else
 * ($, |, * and the like are plain characters; a line break is a blank): blanks separate words;
 * quotes keep blanks ('' is an empty word); outside quotes a backslash keeps the next character,
 * or joins the next line. A quote left open is an error. */
export function argv(text) {
  const words = [];
  let word = null; // why: a word starts with a character or a quote, so '' is a word too
  for (let i = 0; i < text.length;) {
    const c = text[i];
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      [word, i] = [null, i + 1];
    } else if (c === "'" || c === '"') {
      const [part, next] = quotedPart(text, i);
      [word, i] = [(word ?? "") + part, next];
    } else if (c === "\\" && i + 1 < text.length) {
      [word, i] = [text[i + 1] === "\n" ? word : (word ?? "") + text[i + 1], i + 2];
    } else {
      [word, i] = [(word ?? "") + c, i + 1];
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** A command line argv() reads back as exactly these words, and so would a POSIX shell: a word
 * of anything but letters, digits and @%+=:,./-_ (or of nothing) in 'single' quotes, or in
 * "double" ones with " \ $ ` escaped when it holds a single quote. */
export function quoted(words) {
  const quote = (w, i) => {
    // why: a shell would take a first word with = for a variable (A=1 cmd)
    if (/^[\w@%+=:,./-]+$/.test(w) && !(i === 0 && w.includes("="))) return w;
    return w.includes("'") ? `"${w.replace(/["\\$`]/g, "\\$&")}"` : `'${w}'`;
  };
  return words.map(quote).join(" ");
}

/** A text box that keeps line breaks (an <input> drops them from its value), as tall as its text. */
function textBox(attrs, text) {
  const rows = Math.min(12, text.split("\n").length);
  return el("textarea", { ...attrs, rows, spellcheck: "false" }, text);
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

/** What the CLI warns or notes of before a save: no executor online serves the schedule's
 * target (its runs wait: `schedule add` notes it for a command or shell job too), or none of
 * them offers its action ("" when one does, or the executors cannot be read). An edit is
 * checked when it changes the job's action or the target (it sends only what changed). */
async function unoffered(data, d) {
  const moved = "target" in data && d && !data.command && !data.shell ? d.job.action : "";
  const action = data.action || moved;
  if (!action && !("target" in data)) return "";
  const target = (data.target || (d ? d.target : "default")).replace(/^all:/, "");
  let executors;
  try { executors = await api("/executors"); } catch { return ""; }
  const serving = executors.filter((e) => (e.targets.includes(target) || e.tags.includes(target)));
  if (!serving.length) return `no executor online serves target '${target}': its runs wait until one does`;
  if (!action || serving.some((e) => (e.actions || []).includes(action))) return "";
  return `no executor of target '${target}' offers action '${action}': its runs would fail`;
}

export async function formPage(name) {
  const here = place(); // why: drawn after answers: not over the page the operator went to meanwhile
  const row = name ? await api(`/schedules/${encodeURIComponent(name)}`, { params: { fires: 0 } }) : null;
  const d = row ? row.definition : null;
  const kind = d ? (d.job.command ? "command" : d.job.shell ? "shell" : "action") : "command";
  const inputs = {
    name: el("input", { id: "f-name", name: "name", required: true, value: name || "", disabled: !!name, autocomplete: "off", pattern: "[A-Za-z0-9_.\\-]{1,64}",
      title: "use 1-64 letters, digits, '_', '.' or '-'" }),
    spec: el("input", { id: "f-spec", name: "spec", required: true, value: d ? d.spec : "0 * * * *", autocomplete: "off" }),
    tz: el("input", { id: "f-tz", name: "tz", list: "zones", value: d ? d.tz : Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" }),
    kind: el("select", { id: "f-kind" }, ["command", "shell", "action"].map((k) => el("option", { value: k, selected: k === kind }, k))),
    job: textBox({ id: "f-job", required: true, autocomplete: "off" },
      d ? (d.job.command ? quoted(d.job.command) : d.job.shell || d.job.action) : ""),
    target: el("input", { id: "f-target", value: d ? d.target : "default" }),
    tags: el("input", { id: "f-tags", value: d ? (d.tags || []).join(", ") : "", placeholder: "comma, separated" }),
    description: textBox({ id: "f-description" }, d ? d.description : ""),
    timeout: el("input", { id: "f-timeout", value: d ? timeoutText(d.timeout_s) : "1h" }),
    retries: el("input", { id: "f-retries", type: "number", min: 0, value: d ? d.retry.max_attempts - 1 : 0 }),
    overlap: el("select", { id: "f-overlap" }, ["skip", "buffer_one", "allow", "cancel_previous"].map((o) => el("option", { value: o, selected: d && d.overlap === o }, o))),
  };
  const preview = el("div", { id: "preview", class: "card", "aria-live": "polite" });
  const problems = el("div", { id: "f-problems" });
  const form = el("form", { class: "card", id: "schedule-form", onsubmit: (e) => { e.preventDefault(); save(); } },
    el("div", { class: "grid" },
      field("Name", inputs.name), field("Spec", inputs.spec, "cron (5 fields), @daily, @every 15m, @at 2026-12-24T18:00"),
      field("Time zone", inputs.tz, "a new schedule starts in your browser's zone; the CLI, API and files default to UTC"), field("Runs a", inputs.kind),
      field("Command / shell line / action", inputs.job), field("Target", inputs.target),
      field("Tags", inputs.tags), field("Description", inputs.description),
      field("Timeout", inputs.timeout, "e.g. 30s, 10m; none"), field("Retries", inputs.retries),
      field("Overlap", inputs.overlap)),
    problems,
    el("div", { class: "toolbar" }, el("button", { class: "primary", type: "submit", id: "f-save" }, name ? "Save changes" : "Create schedule"),
      el("a", { class: "button", href: name ? `#/s/${encodeURIComponent(name)}` : "#/" }, "Cancel")));
  // why: a refusal names the values of the last Save; once a field changes it may be fixed, and
  // a Save the browser's own validation stops never reaches save() to clear it (newcomer19a #8)
  form.addEventListener("input", () => problems.replaceChildren());
  form.addEventListener("invalid", () => problems.replaceChildren(), true);
  here().replaceChildren(el("h1", {}, name ? `Edit ${name}` : "New schedule"), form,
    el("h2", {}, "Next fires"), preview, await zoneList());

  let asked = 0; // why: an older, slower answer must not replace the preview of what is typed now
  const showPreview = debounce(async () => {
    const mine = ++asked;
    try {
      const shown = await api("/preview", { params: { spec: inputs.spec.value, tz: inputs.tz.value || "UTC", n: 5 } });
      if (mine !== asked) return;
      preview.replaceChildren(shown.fires.length ? fireTable(shown.fires, `In ${shown.tz}`) : el("p", {}, "No fires after now."),
      el("p", { class: "small" }, shown.interval_like ? "Interval-like: fires at every matching wall time, both passes of a repeated hour." : "Fixed-time: a repeated hour fires once; a skipped hour fires when the gap ends."),
      // why: the CLI's `note: EST is a fixed UTC offset…` (spec.zone_note), for the one who picked EST
      ...(shown.note ? [el("p", { class: "note" }, `Note: ${shown.note}`)] : []));
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

  // why: what each input showed when the page was drawn; an edit sends the fields that differ
  const loaded = Object.fromEntries(Object.entries(inputs).map(([key, input]) => [key, input.value]));
  const value = (key) => inputs[key].value.trim();
  /** Each field of the body: [the inputs it is read from, its part of the body]. */
  const fields = [
    [["spec"], () => ({ spec: value("spec") })],
    [["tz"], () => ({ tz: value("tz") || "UTC" })],
    [["kind", "job"], () => ({ [value("kind")]: value("kind") === "command" ? argv(inputs.job.value) : value("job") })],
    [["target"], () => ({ target: value("target") || "default" })],
    [["description"], () => ({ description: inputs.description.value })],
    [["tags"], () => ({ tags: value("tags").split(",").map((t) => t.trim()).filter(Boolean) })],
    [["timeout"], () => ({ timeout: value("timeout") || "1h" })],
    [["retries"], () => ({ retries: Number(value("retries") || 0) })],
    [["overlap"], () => ({ overlap: value("overlap") })],
  ];

  /** The body to send: every field for a new schedule; for an edit, only the fields whose
   * inputs the operator changed. why: PATCH changes the given fields, and a field read back from
   * the form is not always the stored one (a tag stored with a comma before tags were checked, a
   * job the form shows otherwise):
   * saving a new timeout must never rewrite the job. */
  function body() {
    const changed = (keys) => !name || keys.some((key) => inputs[key].value !== loaded[key]);
    return Object.assign({}, ...fields.filter(([keys]) => changed(keys)).map(([, read]) => read()));
  }

  let typedReason = "";
  const submit = form.querySelector("#f-save");
  // why: a second click while the first save is asked (a dry run, a dialog) sent it twice
  async function save() {
    if (submit.disabled) return;
    submit.disabled = true;
    try {
      await saving();
    } finally {
      submit.disabled = false;
    }
  }

  async function saving() {
    problems.replaceChildren();
    try {
      const data = body(); // why: a field the form cannot read says so before anything is asked
      if (name && !Object.keys(data).length) {
        problems.replaceChildren(errorBox(new Error("Nothing changed: edit a field first, or Cancel.")));
        return;
      }
      const path = name ? `/schedules/${encodeURIComponent(name)}` : "";
      // why: a field the server refuses (a spec, a duration) is said before the reason dialog,
      // not after the operator typed a reason (the same checks as the PATCH, nothing sent)
      const dry = name ? await api(path, { method: "PATCH", body: data, ifMatch: row.version, params: { dry_run: true } })
        : await api("/schedules", { method: "POST", body: { name: inputs.name.value.trim(), ...data }, params: { dry_run: true } });
      // why: the CLI warns of an action nobody offers, notes a target nobody serves, and warns
      // of a shell job an executor of its target refuses (the server's `warnings`, one rule:
      // it was saved without a word and every run failed, newcomer21a #6)
      const warned = [...(dry?.warnings || []), await unoffered(data, d)].filter(Boolean);
      if (warned.length && (await confirmAction(`Warning: ${warned.join("; ")}. Save it anyway?`)) === null) return;
      if (name) {
        const reason = await confirmAction(`Save the changes to ${name}?`, typedReason);
        if (reason === null) return;
        typedReason = reason; // why: kept for the next Save if the server refuses this one
        await api(path, { method: "PATCH", body: data, ifMatch: row.version, params: { reason } });
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
