"""Replay's client CPU per event, stage by stage, in one process and without a server.

`python -m bench.replay_stages capture [N]` writes the bench history (bench/replay.py) to a
fresh nats-server and records the bytes one `EventLog.read` of it received from the socket;
`python -m bench.replay_stages [--upto STAGE] [--rounds R]` feeds those bytes through the
reader's own code, stage after stage: the protocol parser (log/fastsub.py), stored events from
its frames as EventLog.read makes them (log/reader.py, log/decoding.py), the folds
(projections/state.apply_batch), and prints CPU µs per event of each (the best of R rounds).

why: on the shared 2-core machine a wall-clock replay swings ±30 %; the same bytes through the
same code give steady CPU figures, and under `valgrind --tool=callgrind` instruction counts
(run with --upto at each stage and subtract).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import pickle
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from jetcron.log.decoding import decoded_frames
from jetcron.log.fastsub import FrameQueue, _FastParser
from jetcron.log.pull import split_statuses
from jetcron.memory import collector_paused
from jetcron.projections.state import Views, apply_batch

WIRE = Path("/tmp/jetcron-replay-wire.pkl")
"""Where capture writes the recorded reads (--wire)."""
STAGES = ("parse", "decode", "fold")
CHUNK = 512
"""Records decoded and folded at a time, as EventLog.read hands them on (DECODE_CHUNK)."""


async def _capture(n: int, wire: Path) -> None:
    from bench.common import RawPublisher, connected, nats_server
    from bench.replay import history
    from jetcron.clock import SystemClock
    from jetcron.log import fastsub
    from jetcron.log.stream import EventLog

    async with nats_server("stages") as server, connected(server.url) as nc:
        log = await EventLog(nc).open()
        async with RawPublisher(nc) as pub:
            await pub.run(history(n, SystemClock().now() - timedelta(days=30)))
        fastsub._install(nc)  # why: the reader would on its first read, after `parse` is wrapped
        chunks: list[bytes] = []
        parser = nc._ps
        original = type(parser).parse

        async def recording(data: bytes = b"") -> None:
            chunks.append(bytes(data))
            await original(parser, data)

        parser.parse = recording
        read = 0
        async for batch in log.read():
            read += len(batch)
        del parser.parse
        await log.close()
    wire.write_bytes(pickle.dumps({"chunks": chunks, "events": read}))  # noqa: ASYNC240
    print(f"{read} events, {sum(map(len, chunks))} bytes in {len(chunks)} reads -> {wire}")


class _Client:
    """What the fast parser reads of a nats-py client: the queues and sinks by sid."""

    def __init__(self, queues: dict[bytes, Any]) -> None:
        self._jetcron_queues = queues
        self._jetcron_sinks: dict[int, Any] = {}

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        """What nats-py's own parser hands on (after a PING, say): queued as fastsub does."""
        queue = self._jetcron_queues.get(b"%d" % sid)
        if queue is not None:
            queue.push((subject, reply, data, headers))

    async def _process_ping(self) -> None:
        pass

    async def _process_pong(self) -> None:
        pass


def _run(coro: Any) -> None:
    """Run a coroutine that never suspends (the parser awaits nothing for queued frames)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("the parser suspended")


def _sid(chunks: list[bytes]) -> int:
    """The sid of the reader's inbox: the first delivery with a $JS.ACK reply."""
    wire = b"".join(chunks[:4])
    at = wire.find(b" $JS.ACK.")
    return int(wire[wire.rfind(b"MSG ", 0, at) :].split()[2])


def parse(chunks: list[bytes]) -> list[Any]:
    """Frames the fast parser cuts from the recorded reads."""
    queue = FrameQueue()
    parser = _FastParser(_Client({b"%d" % _sid(chunks): queue}))
    frames: list[Any] = []
    for chunk in chunks:
        _run(parser.parse(chunk))
        frames += queue.take()
    return frames


def decode(frames: list[Any]) -> list[list[Any]]:
    """Stored events from the deliveries, a reader's chunk at a time (as EventLog.read)."""
    deliveries = split_statuses(frames)[0]
    out = []
    for at in range(0, len(deliveries), CHUNK):
        for part, _ in decoded_frames(deliveries[at : at + CHUNK]):
            out.append(part)
    return out


def fold(parts: list[list[Any]]) -> Any:
    """Fresh views folded from the chunks."""
    views = Views()
    for part in parts:
        apply_batch(views, part)
    return views


def _timed(step: Callable[[Any], Any], arg: Any, rounds: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for round_ in range(rounds):
        out = None
        if round_:
            gc.collect()
        # why: as a replay reads and folds (bench/replay.py, cli/replaying.py)
        with collector_paused():
            started = time.process_time()
            out = step(arg)
            best = min(best, time.process_time() - started)
    return best, out


def measure(wire: Path, upto: str, rounds: int) -> None:
    """CPU µs per event of each stage up to `upto`."""
    recorded = pickle.loads(wire.read_bytes())
    n, data = recorded["events"], recorded["chunks"]
    for name, step in zip(STAGES, (parse, decode, fold), strict=True):
        seconds, data = _timed(step, data, rounds)
        print(f"{name:8} {seconds / n * 1e6:6.2f} us/event")
        if name == upto:
            break


def main() -> None:
    """Capture, or measure."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="?", default="measure", choices=("capture", "measure"))
    ap.add_argument("n", nargs="?", type=int, default=100_000)
    ap.add_argument("--upto", default="fold", choices=STAGES)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--wire", type=Path, default=WIRE)
    args = ap.parse_args()
    if args.what == "capture":
        asyncio.run(_capture(args.n, args.wire))
    else:
        measure(args.wire, args.upto, args.rounds)


if __name__ == "__main__":
    main()
