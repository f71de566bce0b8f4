"""`jetcron serve` with a memory probe: on SIGUSR1 it appends one JSON line to $PROBE_OUT.

The line holds RSS and CPU, glibc's `mallinfo2` (all arenas) and each arena's size from
`malloc_info`, CPython's small-object allocator (`sys._debugmallocstats`: arenas, bytes in
allocated and in available blocks) and the gc-tracked objects by type (views are gc=False
Structs, so they are not among them). $PROBE_TRIM_TOO: also RSS after `gc.collect()` and
`malloc_trim(0)` (which then changes what follows). $PROBE_TRACEMALLOC=N: tracemalloc with N
frames from the start, a snapshot dumped beside $PROBE_OUT with each probe.

Used by bench/serve_memory.py: `python bench/serve_probe.py serve --server URL ...`.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import gc
import json
import os
import re
import runpy
import signal
import sys
import tempfile
import time
import traceback
from typing import Any

import psutil

libc = ctypes.CDLL(ctypes.util.find_library("c"))


class MallInfo2(ctypes.Structure):
    """glibc's struct mallinfo2."""

    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


libc.mallinfo2.restype = MallInfo2
libc.fopen.restype = ctypes.c_void_p


def pymalloc() -> dict[str, int]:
    """The figures of `sys._debugmallocstats` (it writes to fd 2) that name arenas or bytes."""
    fd, path = tempfile.mkstemp()
    saved = os.dup(2)
    sys.stderr.flush()
    os.dup2(fd, 2)
    try:
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
    with open(path) as f:
        text = f.read()
    os.unlink(path)
    out = {}
    for line in text.splitlines():
        m = re.match(r"#?\s*([a-z# ][^=]*?)\s*=\s*([\d,]+)\s*$", line.strip())
        if m and any(w in m.group(1) for w in ("arena", "bytes", "pools", "Total")):
            out[m.group(1).strip()] = int(m.group(2).replace(",", ""))
    return out


def heaps() -> dict[str, int]:
    """Each glibc arena's current size, from `malloc_info`."""
    fd, path = tempfile.mkstemp()
    os.close(fd)
    f = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(f))
    libc.fclose(ctypes.c_void_p(f))
    with open(path) as r:
        text = r.read()
    os.unlink(path)
    found = re.findall(r'<heap nr="(\d+)">.*?<system type="current" size="(\d+)"/>', text, re.S)
    return {nr: int(size) for nr, size in found}


def probe(tag: str) -> dict[str, Any]:
    """One record of this process's memory."""
    p = psutil.Process()
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    mi = libc.mallinfo2()
    rec: dict[str, Any] = {
        "tag": tag,
        "t": time.time(),
        "rss_mib": p.memory_info().rss / 2**20,
        "cpu_s": sum(p.cpu_times()[:2]),
        "mallinfo": {k: getattr(mi, k) for k, _ in MallInfo2._fields_},
        "heaps": heaps(),
        "pymalloc": pymalloc(),
        "gc_objects": sum(counts.values()),
        "gc_top": counts.most_common(25),
        "threads": len(p.threads()),
    }
    import tracemalloc

    if tracemalloc.is_tracing():
        rec["snap"] = os.environ["PROBE_OUT"] + f".{tag}.snap"
        tracemalloc.take_snapshot().dump(rec["snap"])
    if os.environ.get("PROBE_TRIM_TOO"):
        gc.collect()
        libc.malloc_trim(0)
        rec["after_trim_rss_mib"] = p.memory_info().rss / 2**20
    return rec


def _on_signal(signum: int, frame: object) -> None:
    try:
        out = os.environ["PROBE_OUT"]
        tag = "x"
        if os.path.exists(out + ".tag"):
            with open(out + ".tag") as f:
                tag = f.read().strip()
        rec = probe(tag)
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
    except Exception:  # noqa: BLE001 - a probe must never take serve down
        traceback.print_exc()


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _on_signal)
    if os.environ.get("PROBE_TRACEMALLOC"):
        import tracemalloc

        tracemalloc.start(int(os.environ["PROBE_TRACEMALLOC"]))
    sys.argv = ["jetcron", *sys.argv[1:]]
    runpy.run_module("jetcron", run_name="__main__", alter_sys=True)
