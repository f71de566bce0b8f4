"""The console's Edit form in a real headless Chromium: saving changes the fields the operator
changed and nothing else (the PATCH carries only those), on richly set schedules of each kind:
a multi-line shell script, a command whose words hold quotes, blanks, backslashes, line breaks
and empty words, an action with params (newcomer16a: a timeout-only edit glued a script's lines
together and re-split a command's words). `schedule show --json` before and after differ in the
edited field alone. And the command line the form shows reads back as the same words: a table
of argv cases run in the browser against form.js itself.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from test_console import ARGS, CHROMIUM, confirm
from webstack import Stack, cli, run_stack

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)"),
]

RICH: dict[str, Any] = {
    "spec": "0 3 1 1 *",
    "tz": "Europe/Berlin",
    "cwd": "/tmp",
    "env": {"A": "1", "B": "two words"},
    "secret_env": {"TOKEN": "kv:api-token"},
    "target": "pool-a",
    "timeout": "1h30m",
    "retries": 2,
    "retry_backoff": "30s",
    "retry_multiplier": 3.0,
    "retry_max_backoff": "20m",
    "overlap": "allow",
    "catchup": "all",
    "catchup_window": "2h",
    "catchup_max_fires": 5,
    "end": "2030-01-01T00:00:00",
    "jitter": "20s",
    "max_runs": 50,
    "breaker": 5,
    "breaker_cooldown": "1h",
    "max_cpu": 90,
    "max_load": 4.0,
    "max_defer": "30m",
    "on_expire": "force",
    "description": "two\nlines",
    "tags": ["reef", "a.b", "with-dash_1"],  # why: tags are written like targets (validation)
    "metadata": {"owner": "ops"},
    "expect_success_within": "26h",
    "expect_done_by": "06:30",
}
"""Every kind of setting, most of which the form does not show (all must survive an edit)."""
TRICKY = ["printf", "%s|", 'a "b c" d', "", "'q'", "x", "back\\slash", "new\nline", 'it\'s "both"']
JOBS: dict[str, dict[str, Any]] = {
    "shell": {"shell": "cd /tmp\necho one\necho 'two'  \"3\" \\\n  four\n"},
    "command": {"command": TRICKY},
    "action": {"action": "log", "params": {"message": "hi", "n": 2, "nested": {"x": [1]}}},
}

EDITS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # field: (input, what the operator types, the definition's fields after)
    "timeout": ("#f-timeout", "7m", {"timeout_s": 420}),
    "spec": ("#f-spec", "0 5 2 1 *", {"spec": "0 5 2 1 *"}),
    "tz": ("#f-tz", "Asia/Tokyo", {"tz": "Asia/Tokyo"}),
    "target": ("#f-target", "pool-b", {"target": "pool-b"}),
    "tags": ("#f-tags", "reef, ops", {"tags": ["reef", "ops"]}),
    "description": ("#f-description", "one\nline more", {"description": "one\nline more"}),
    "retries": ("#f-retries", "4", {"retry": {"max_attempts": 5}}),
    "overlap": ("#f-overlap", "cancel_previous", {"overlap": "cancel_previous"}),
}
CASES = [(kind, "timeout") for kind in JOBS] + [("command", f) for f in EDITS if f != "timeout"]
MOVES = {"version", "updated_at"}
"""What every edit moves in `schedule show --json` besides the definition."""
FIRES = {"next_fire", "next_fires"}
MIRRORS = {"spec": {"spec", *FIRES}, "tz": {"tz", "next_fire_abbr", *FIRES}, "target": {"target"}}
"""What else an edit of a field moves: the row's copy of it and the fires it times."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("console-edit"), tokens=False)


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = chromium.new_page()
        page.set_default_timeout(15_000)
        page.goto(stack.url + "/")
        page.wait_for_selector("h1:has-text('Schedules')")
        yield page
        chromium.close()


def shown(stack: Stack, name: str) -> dict[str, Any]:
    """`jetcron schedule show NAME --json`."""
    # why: in a thread of its own, as playwright runs an event loop in this one
    with ThreadPoolExecutor(1) as worker:
        said = worker.submit(cli, stack.nats_url, "schedule", "show", name, "--json").result()
    assert said.exit_code == 0, said.output
    return dict(json.loads(said.stdout))


def merged(old: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """`old` with `change` laid over it, nested dicts field by field."""
    new = dict(old)
    for key, value in change.items():
        new[key] = merged(old[key], value) if isinstance(value, dict) else value
    return new


def sh_words(line: str) -> list[str]:
    """The words a POSIX shell reads in `line` (each printed, NUL-ended, by printf)."""
    said = subprocess.run(["sh", "-c", f"printf '%s\\0' {line}"], capture_output=True, check=True)
    return said.stdout.decode().split("\0")[:-1]


def edit(page: Any, name: str, selector: str, typed: str) -> None:
    """Open the schedule's Edit form, change one input, save and confirm."""
    page.evaluate("(name) => { location.hash = `#/edit/${name}`; }", name)
    page.wait_for_selector(f"h1:has-text('Edit {name}')")
    page.wait_for_selector("#preview td")
    if selector in ("#f-overlap", "#f-kind"):
        page.select_option(selector, typed)
    else:
        page.fill(selector, typed)
    page.click("#f-save")
    if (
        selector == "#f-target"
    ):  # why: no executor serves pool-b: the form asks first (as the CLI notes)
        page.wait_for_selector(f"#confirm-text:has-text(\"serves target '{typed}'\")")
        confirm(page)
        page.wait_for_selector("#confirm-text:has-text('Save the changes')")
    confirm(page, "one field")


@pytest.mark.parametrize(("kind", "field"), CASES, ids=[f"{k}-{f}" for k, f in CASES])
def test_an_edit_changes_the_edited_field_and_nothing_else(
    stack: Stack, page: Any, kind: str, field: str
) -> None:
    name = f"edit-{kind}-{field}"
    with stack.client(None) as http:
        made = http.post("/api/v1/schedules", json={"name": name, **RICH, **JOBS[kind]})
        assert made.status_code == 201, made.text
    before = shown(stack, name)
    selector, typed, change = EDITS[field]
    sent: list[dict[str, Any]] = []

    def record(request: Any) -> None:
        if request.method == "PATCH" and "dry_run" not in request.url:  # the check before
            sent.append(request.post_data_json)

    page.on("request", record)
    try:
        edit(page, name, selector, typed)
        page.wait_for_selector(f"h1 .small:has-text('v{before['version'] + 1}')")
    finally:
        page.remove_listener("request", record)
    after = shown(stack, name)
    assert after["definition"] == merged(before["definition"], change)
    moved = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert moved - {"definition"} == MOVES | MIRRORS.get(field, set()), (before, after)
    assert [list(body) for body in sent] == [[field]]  # why: the PATCH names that field alone


def test_the_job_edited_reads_back_as_typed(stack: Stack, page: Any) -> None:
    """A changed command is read from the line the form showed: every stored word survives."""
    with stack.client(None) as http:
        for name, job in (("grow-command", JOBS["command"]), ("grow-shell", JOBS["shell"])):
            made = http.post("/api/v1/schedules", json={"name": name, "spec": "0 3 1 1 *", **job})
            assert made.status_code == 201, made.text
    shown_line = page.evaluate("async (w) => (await import('/static/form.js')).quoted(w)", TRICKY)
    edit(page, "grow-command", "#f-job", shown_line + " 'one more'")
    page.wait_for_selector("h1 .small:has-text('v2')")
    assert shown(stack, "grow-command")["definition"]["job"]["command"] == [*TRICKY, "one more"]
    script = JOBS["shell"]["shell"]
    edit(page, "grow-shell", "#f-job", script + "echo three")
    page.wait_for_selector("h1 .small:has-text('v2')")
    assert shown(stack, "grow-shell")["definition"]["job"]["shell"] == script + "echo three"


def test_a_command_switched_to_shell_runs_the_same_words(stack: Stack, page: Any) -> None:
    with stack.client(None) as http:
        made = http.post("/api/v1/schedules", json={"name": "to-shell", **RICH, **JOBS["command"]})
        assert made.status_code == 201, made.text
    before = shown(stack, "to-shell")
    edit(page, "to-shell", "#f-kind", "shell")
    page.wait_for_selector("h1 .small:has-text('v2')")
    after = shown(stack, "to-shell")
    line = after["definition"]["job"]["shell"]
    assert sh_words(line) == TRICKY, line
    assert after["definition"] == merged(
        before["definition"], {"job": {"command": None, "shell": line}}
    )


def test_a_refused_edit_says_so_before_the_reason_and_a_typed_reason_is_kept(
    stack: Stack, page: Any
) -> None:
    """newcomer18a #8: Save asked for a reason, then the server refused the spec and the
    reason typed was gone. Now the refusal comes first; a reason typed before a refusal the
    check cannot foresee (someone saved in between: 412) is offered again."""
    with stack.client(None) as http:
        made = http.post(
            "/api/v1/schedules", json={"name": "refused", "spec": "0 3 1 1 *", **JOBS["command"]}
        )
        assert made.status_code == 201, made.text
    before = shown(stack, "refused")
    page.evaluate("() => { location.hash = '#/edit/refused'; }")
    page.wait_for_selector("#preview td")
    for selector, typed, said in [
        ("#f-spec", "@evry 5s", "invalid spec '@evry 5s'"),
        ("#f-timeout", "10 mins", "timeout"),
    ]:
        page.fill(selector, typed)
        page.click("#f-save")
        page.wait_for_selector(f'#schedule-form .error:has-text("{said}")')
        assert not page.locator("#confirm").evaluate("d => d.open")  # no reason asked
        page.fill(selector, before["definition"]["spec"] if selector == "#f-spec" else "1h")
    assert shown(stack, "refused") == before

    page.fill("#f-timeout", "7m")
    with stack.client(None) as http:  # someone else saves in between
        other = http.patch("/api/v1/schedules/refused", json={"retries": 1})
        assert other.status_code == 200, other.text
    page.click("#f-save")
    page.wait_for_selector("#schedule-form .error")  # the check itself sees the new version
    assert not page.locator("#confirm").evaluate("d => d.open")
    page.reload()
    page.wait_for_selector("#preview td")
    page.fill("#f-timeout", "7m")
    failed: list[str] = []

    def unreachable_once(route: Any) -> None:
        """The real PATCH (not the check) meets a gateway that lost NATS, once."""
        if route.request.method != "PATCH" or "dry_run" in route.request.url or failed:
            route.continue_()
            return
        failed.append(route.request.url)
        body = json.dumps({"detail": "the scheduler is unreachable"})
        route.fulfill(status=503, content_type="application/problem+json", body=body)

    page.route("**/api/v1/schedules/refused?*", unreachable_once)
    try:
        page.click("#f-save")
        confirm(page, "shorter runs")
        page.wait_for_selector("#schedule-form .error:has-text('unreachable')")
        page.click("#f-save")
        page.wait_for_selector("#confirm[open]")
        kept = page.input_value("#confirm-reason")
        confirm(page, kept)
        page.wait_for_selector("h1 .small:has-text('v3')")
    finally:
        page.unroute("**/api/v1/schedules/refused?*", unreachable_once)
    assert kept == "shorter runs" and len(failed) == 1
    assert shown(stack, "refused")["definition"]["timeout_s"] == 420
    [audited] = [e for e in audit(stack, "refused") if e["reason"] == "shorter runs"]
    assert audited["changes"] == [["timeout", "1h", "7m"]]


def test_a_refusal_leaves_once_a_field_changes(stack: Stack, page: Any) -> None:
    """newcomer19a #8: the server's refusal of the last Save stayed on screen after its field
    was fixed, when the next Save was stopped by the browser's own validation (retries -3)."""
    with stack.client(None) as http:
        made = http.post(
            "/api/v1/schedules", json={"name": "fixed", "spec": "0 3 1 1 *", **JOBS["command"]}
        )
        assert made.status_code == 201, made.text
    page.evaluate("() => { location.hash = '#/edit/fixed'; }")
    page.wait_for_selector("#preview td")
    page.fill("#f-tz", "Mars/Base")
    page.click("#f-save")
    page.wait_for_selector("#f-problems .error:has-text('Mars/Base')")
    page.fill("#f-tz", "UTC")
    page.fill("#f-retries", "-3")
    page.click("#f-save")  # stopped by the browser: min is 0
    assert page.locator("#f-retries").evaluate("i => !i.validity.valid")
    assert page.locator("#f-problems .error").count() == 0


def audit(stack: Stack, name: str) -> list[dict[str, Any]]:
    """`jetcron audit NAME --json`."""
    with ThreadPoolExecutor(1) as worker:
        said = worker.submit(cli, stack.nats_url, "audit", name, "--json").result()
    assert said.exit_code == 0, said.output
    return list(json.loads(said.stdout))


def test_saving_an_unchanged_form_sends_nothing(stack: Stack, page: Any) -> None:
    with stack.client(None) as http:
        assert http.post("/api/v1/schedules", json={"name": "as-is", **RICH, **JOBS["command"]}).is_success  # fmt: skip
    before = shown(stack, "as-is")
    page.evaluate("() => { location.hash = '#/edit/as-is'; }")
    page.wait_for_selector("#preview td")
    page.click("#f-save")
    page.wait_for_selector(".error:has-text('Nothing changed')")
    assert shown(stack, "as-is") == before


ROUND_TRIP = """async (words) => {
  const form = await import("/static/form.js");
  const line = form.quoted(words);
  return [line, form.argv(line)];
}"""
WORDS = {
    "plain": ["echo", "hello"],
    "empty-word": [""],
    "empty-words": ["a", "", "", "b"],
    "blank": ["a b"],
    "blanks-only": [" ", "\t"],
    "double-quotes": ['say "hi"'],
    "single-quote": ["it's"],
    "both-quotes": ['it\'s "both"'],
    "quotes-alone": ["'", '"', "''", '""'],
    "backslash": ["back\\slash"],
    "backslash-alone": ["\\", "\\\\"],
    "backslash-last": ["trail\\"],
    "backslash-quote": ["\\'", '\\"', "'\\\"'"],
    "line-break": ["new\nline", "\n"],
    "line-break-quote": ["it's\nhere"],
    "shell-characters": ["%s|", "$HOME", "*", ";", "a|b", "`x`", "#", "~", "(x)", "a&", "<"],
    "shell-characters-and-quote": ["it's $HOME `x` \\$ \\`"],
    "assignment-first": ["A=1", "B=2"],
    "safe": ["--opt=value", "a,b:c@d%e+f", "./x/y-z_1.txt"],
    "unicode": ["ünï cödé", "日本", "\u00a0"],
    "newcomer16a": ["printf", "%s|", 'a "b c" d', "", "'q'", "x"],
}


@pytest.mark.parametrize("words", WORDS.values(), ids=WORDS.keys())
def test_the_command_line_shown_reads_back_as_the_same_words(page: Any, words: list[str]) -> None:
    line, back = page.evaluate(ROUND_TRIP, words)
    assert back == words, line
    assert sh_words(line) == words, line  # why: the line means the same in a shell


TYPED = {
    "single-quotes": ("echo 'lights on'", ["echo", "lights on"]),
    "double-quotes": ('echo "lights on"', ["echo", "lights on"]),
    "joined-parts": ("a\"b c\"d'e f'", ["ab cde f"]),
    "empty-quotes": ("x '' \"\" y", ["x", "", "", "y"]),
    "escaped-quote": ("\"a\\\"b\" 'c'\\''d'", ['a"b', "c'd"]),
    "backslash-in-double": ('"a\\b" "a\\\\b"', ["a\\b", "a\\b"]),
    "backslash-in-single": ("'a\\b'", ["a\\b"]),
    "escaped-blank": ("a\\ b", ["a b"]),
    "continued-line": ("one \\\n  two", ["one", "two"]),
    "blanks-around": ("  lead \t trail  \n", ["lead", "trail"]),
    "lines": ("multi\nline", ["multi", "line"]),
    "escapes-in-double": ('"\\$x \\` \\a"', ["$x ` \\a"]),
    "continued-in-double": ('"one \\\ntwo"', ["one two"]),
    "plain-characters": ("a|b $HOME *", ["a|b", "$HOME", "*"]),
}


@pytest.mark.parametrize(("text", "words"), TYPED.values(), ids=TYPED.keys())
def test_a_typed_command_line_splits_as_a_shell_would(
    page: Any, text: str, words: list[str]
) -> None:
    said = page.evaluate("async (t) => (await import('/static/form.js')).argv(t)", text)
    assert said == words
    if text not in (TYPED["lines"][0], TYPED["plain-characters"][0]):
        assert sh_words(text) == words  # why: a shell splits it the same (those two it runs)


OPEN = {
    "single": ("echo 'open", "'open"),
    "double": ('echo "open quote', '"open'),
    "escaped-close": ('x "a\\"', '"a\\"'),
    "after-a-closed-one": ("'a' b'c", "'c"),
}


@pytest.mark.parametrize(("text", "where"), OPEN.values(), ids=OPEN.keys())
def test_a_quote_left_open_is_an_error(page: Any, text: str, where: str) -> None:
    said = page.evaluate(
        "async (t) => { try { (await import('/static/form.js')).argv(t); return 'split'; }"
        " catch (err) { return err.message; } }",
        text,
    )
    assert said == f"command: the quote before {where} is not closed"
