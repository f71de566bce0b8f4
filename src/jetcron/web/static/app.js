// The console: a hash router over the pages, the login, and one confirmation dialog.
import { api, ApiError, token } from "./api.js";
import { el, errorBox, main, newPage, YOUR_ZONE } from "./dom.js";
import { schedulesPage } from "./schedules.js";
import { schedulePage } from "./schedule.js";
import { formPage } from "./form.js";
import { runPage, runsPage } from "./runs.js";
import { forgetStream, watchViews } from "./stale.js";
import { executorsPage, healthPage } from "./system.js";
import { calendarsPage, notificationsPage } from "./lists.js";

/** A name from the address; a malformed escape ("%E0%A4%A", typed or cut) stays as it is, so
 * the page can say there is no such schedule instead of "URI malformed". */
function decoded(text) {
  try { return decodeURIComponent(text); } catch { return text; }
}

/** Roles that only read (the gateway refuses their changes with 403): the console hides what
 * changes (`.writer`, console.css) and does not open the form for them. */
const READ_ONLY = new Set(["auditor"]);

/** A page that changes things; a read-only role is told so instead of a form it cannot save. */
function writing(page) {
  return (m) => {
    const role = document.body.dataset.role;
    if (!READ_ONLY.has(role)) return page(m);
    main().replaceChildren(el("h1", {}, "Read-only"), el("p", { id: "read-only" },
      `You are signed in as ${role}: you can read everything, changes need an operator or admin. `,
      el("a", { href: "#/" }, "Schedules")));
    return null;
  };
}

const ROUTES = [
  [/^#?\/?(?:\?(.*))?$/, (m) => schedulesPage(m[1])],
  [/^#\/new$/, writing(() => formPage(null))],
  [/^#\/edit\/(.+)$/, writing((m) => formPage(decoded(m[1])))],
  [/^#\/s\/(.+)$/, (m) => schedulePage(decoded(m[1]))],
  [/^#\/runs(?:\?(.*))?$/, (m) => runsPage(m[1])],
  [/^#\/run\/(.+)$/, (m) => runPage(decoded(m[1]))],
  [/^#\/health$/, () => healthPage()],
  [/^#\/executors$/, () => executorsPage()],
  [/^#\/notifications$/, () => notificationsPage()],
  [/^#\/calendars$/, () => calendarsPage()],
];

/** The shown page's leave() (stops its live stream). A page still loading when the next one
 * was asked (after sign-in, the schedules page while the operator went on to #/runs) is left
 * as soon as it is ready, and its late error is drawn nowhere.
 * why: its leave() replaced the shown page's, and its stream ran on, unseen, until a reload */
let leave = null;

function login(message) {
  const input = el("input", { id: "token", type: "password", autocomplete: "current-password", required: true });
  const form = el("form", { class: "card", onsubmit: (e) => { e.preventDefault(); token.set(input.value.trim()); start(); } },
    el("h1", {}, "Sign in"),
    el("p", {}, "Paste your API token (from the gateway's token file). It stays in this browser."),
    message ? el("div", { class: "error" }, message) : "",
    el("label", {}, "Token", input),
    el("button", { class: "primary", type: "submit" }, "Sign in"));
  main().replaceChildren(form);
}

async function route() {
  const shown = newPage();
  if (leave) { leave(); leave = null; }
  forgetStream();
  const hash = location.hash || "#/";
  for (const [pattern, page] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    try {
      const left = (await page(match)) || null;
      if (shown()) leave = left;
      else if (left) left();
    } catch (err) {
      if (!shown()) return;
      // why: no token (signed out, or never in): just ask for one; "a bearer token is required" is for the API
      if (err instanceof ApiError && err.status === 401) return login(token.get() ? err.message : "");
      main().replaceChildren(errorBox(err));
    }
    return;
  }
  main().replaceChildren(el("p", {}, "No such page. ", el("a", { href: "#/" }, "Schedules")));
}

document.getElementById("zone-note").textContent =
  `Times are your time (${YOUR_ZONE}) unless they name a zone: a schedule's fires show in its zone (CET, EST…), UTC ends in Z.`;

let watching = false;

async function start() {
  try {
    const me = await api("/whoami");
    const out = el("a", { href: "#/", onclick: () => { token.clear(); start(); } }, "sign out");
    document.getElementById("who").replaceChildren(`${me.name} · ${me.role} `, me.auth ? out : "");
    document.body.dataset.role = me.role;
    // why: asked before sign-in, /views was one more 401 in the login page's console (newcomer20a #15)
    if (!watching) { watching = true; watchViews(); }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return login(token.get() ? err.message : "");
    main().replaceChildren(errorBox(err));
    return;
  }
  route();
}

window.addEventListener("hashchange", route);
start();
