"""Embedded nats-server lifecycle: start it with JetStream, wait until ready, stop, never orphan it.

The binary, free ports, the spawn tied to our life and the log lines: serverproc.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from jetcron.errors import InfrastructureError, InvalidInput
from jetcron.serverproc import LogWatch, find_nats_server, free_ports, spawn

__all__ = [
    "NatsServer",
    "PortInUse",
    "start_cluster",
]

_log = logging.getLogger(__name__)

_LISTENING = re.compile(r"Listening for client connections on (\S+):(\d+)")
_READY = re.compile(r"Server is ready")
_IN_USE = re.compile(r"address already in use", re.IGNORECASE)
_IN_USE_PORT = re.compile(r"listen tcp \S*:(\d+): bind")
_META_LEADER = re.compile(r"Self is new JetStream cluster metadata leader|new metadata leader:")
_POLL = 0.01


class PortInUse(InvalidInput):
    """The port nats-server was asked to listen on is taken (the user picks another: exit 2)."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        super().__init__(
            f"port {port} is already in use (another jetcron up or nats-server?); "
            f"pick another with --port or point at it with --server nats://{host}:{port}"
        )


class NatsServer:
    """A nats-server child process with JetStream, its store under `data_dir`."""

    def __init__(
        self,
        *,
        data_dir: str | Path,
        port: int = -1,
        host: str = "127.0.0.1",
        log_file: str | Path | None = None,
        extra_args: Sequence[str] = (),
        server_name: str | None = None,
        keep_fds: Sequence[int] = (),
        include: str | Path | None = None,
        pid_file: str | Path | None = None,
        tls: tuple[str | Path, str | Path] | None = None,
        verify_clients: str | Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.include = Path(include) if include is not None else None
        """A nats-server config to include (e.g. `jetcron auth`'s server.conf: users, TLS)."""
        self.pid_file = Path(pid_file) if pid_file is not None else None
        """Where the server writes its pid, so others can signal it (reload)."""
        self.tls = (Path(tls[0]), Path(tls[1])) if tls is not None else None
        """(certificate, key): clients must speak TLS (needs `include`)."""
        self.verify_clients = Path(verify_clients) if verify_clients is not None else None
        """A CA file: with `tls`, clients must also show a certificate it signed (mutual TLS)."""
        self.host = host
        self.log_file = Path(log_file) if log_file is not None else None
        self.extra_args = tuple(extra_args)
        self.keep_fds = tuple(keep_fds)
        """Descriptors the server inherits (the data-dir lock, so it lives as long as the server)."""
        # why: a stable name lets a restart on the same store dir find the same streams.
        self.server_name = server_name or "jetcron"
        # why: stderr goes to a file, not a pipe: Go dies of SIGPIPE (even if ignored) when it
        # logs to a pipe whose reader is gone, so an orphan would skip its graceful shutdown.
        # It is truncated on each start; long-running servers should pass `log_file` too.
        self.stderr_file = self.data_dir / "nats-server.stderr"
        self._requested_port = port
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._watch = LogWatch()

    def command(self) -> list[str]:
        """The nats-server command line `start` runs."""
        log = ["-l", str(self.log_file)] if self.log_file is not None else []
        config = ["-c", str(self.config_file)] if self.include is not None else []
        return [
            find_nats_server(),
            "-js",
            "-sd", str(self.data_dir),
            "-a", self.host,
            "-p", str(self._requested_port),
            "--server_name", self.server_name,
            *log,
            *config,
            *self.extra_args,
        ]  # fmt: skip

    @property
    def config_file(self) -> Path:
        """The config file written for `include` (in the data dir)."""
        return self.data_dir / "nats-server.conf"

    def _write_config(self) -> None:
        """The config that includes `include`, with what a reload must find unchanged in it."""
        if self.include is None:
            return
        # why: a reload (SIGHUP) re-reads only the file; the server refuses it if the file
        # lacks the server name given as a flag. Includes are relative to the including file.
        rel = os.path.relpath(self.include.resolve(), self.data_dir.resolve())
        lines = [f"server_name: {json.dumps(self.server_name)}", f"include {json.dumps(rel)}"]
        if self.pid_file is not None:
            lines.append(f"pid_file: {json.dumps(str(self.pid_file.resolve()))}")
        if self.tls is not None:
            cert, key = (json.dumps(str(p.resolve())) for p in self.tls)
            verify = ""
            if self.verify_clients is not None:
                verify = (
                    f", ca_file: {json.dumps(str(self.verify_clients.resolve()))}, verify: true"
                )
            lines.append(f"tls {{ cert_file: {cert}, key_file: {key}, timeout: 2{verify} }}")
        self.config_file.write_text("\n".join(lines) + "\n")

    def reload(self) -> None:
        """Make the server re-read its config (SIGHUP): users, permissions, TLS."""
        if self._proc is None or not self.running:
            raise InfrastructureError("nats-server is not running")
        self._proc.send_signal(signal.SIGHUP)

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start the server and wait until it accepts clients; call from the main thread."""
        if self.running:
            raise InfrastructureError(f"nats-server is already running (pid {self.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        command = self.command()
        with self.stderr_file.open("wb") as stderr:
            self._watch = LogWatch(self.stderr_file, *filter(None, [self.log_file]))
            self._proc = spawn(command, stderr, self.keep_fds)
        try:
            self._port = self._await_ready(timeout)
        except BaseException:
            self.kill()
            raise
        _log.info("nats-server ready at %s (pid %s)", self.url, self.pid)
        return self

    def restart(self, timeout: float = 10.0) -> NatsServer:
        """Start again after the process exited, on the same port, so clients reconnect."""
        if self._port is not None:
            self._requested_port = self._port
        return self.start(timeout)

    @property
    def exit_status(self) -> str:
        """How the last run ended, e.g. `killed by SIGKILL`, `exit code 1`, or `running`."""
        code = self._proc.poll() if self._proc is not None else None
        if code is None:
            return "running" if self._proc is not None else "not started"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def _await_ready(self, timeout: float) -> int:
        """Poll the log until the server is ready; return the port it listens on."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while True:
            exited = self._proc.poll() is not None
            if in_use := self._watch.search(_IN_USE):
                raise PortInUse(self._port_in(in_use.string), self.host)
            if exited:
                raise InfrastructureError(
                    f"nats-server exited with code {self._proc.returncode} while starting:\n"
                    f"{self._watch.tail()}"
                )
            listening = self._watch.search(_LISTENING)
            if listening and self._watch.search(_READY):
                return int(listening.group(2))
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"nats-server not ready after {timeout:g}s:\n{self._watch.tail()}"
                )
            time.sleep(_POLL)

    def _port_in(self, line: str) -> int:
        """The port an "address already in use" line names, else the one we asked for."""
        match = _IN_USE_PORT.search(line)
        return int(match.group(1)) if match else self._requested_port

    def wait_for_log(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> str:
        """Wait until a recent log line matches `pattern`; return that line."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while (match := self._watch.search(regex)) is None:
            if time.monotonic() > deadline or not self.running:
                raise InfrastructureError(
                    f"nats-server logged nothing matching {regex.pattern!r} "
                    f"within {timeout:g}s:\n{self._watch.tail()}"
                )
            time.sleep(_POLL)
        return match.string

    def log_tail(self, n: int = 20) -> str:
        """The last `n` log lines of the current (or last) run."""
        return self._watch.tail(n)

    @property
    def port(self) -> int:
        """The port clients connect to (the actual one, also with `port=-1`)."""
        if self._port is None:
            raise InfrastructureError("nats-server has not been started")
        return self._port

    @property
    def url(self) -> str:
        """The client URL, e.g. nats://127.0.0.1:4222."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"nats://{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id of the current (or last) run, None before the first start."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (JetStream flushes and exits), then SIGKILL after `timeout`; idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            # why: a stopped (SIGSTOPped) server would hold SIGTERM until the timeout; SIGCONT
            # lets it flush and exit now (what systemd does), and is a no-op for a running one
            proc.send_signal(signal.SIGCONT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _log.warning("nats-server pid %s ignored SIGTERM: killing", proc.pid)
                proc.kill()
                proc.wait()
        self._watch.poll()

    def kill(self) -> None:
        """SIGKILL the server: no flush, like a crash; idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._watch.poll()

    def __enter__(self) -> NatsServer:
        return self if self.running else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid} port={self._port}" if self.running else "stopped"
        return f"NatsServer({str(self.data_dir)!r}, {state})"


def start_cluster(base_dir: str | Path, n: int = 3, *, timeout: float = 30.0) -> list[NatsServer]:
    """Start an n-node JetStream cluster on localhost; return once it has a metadata leader."""
    if n < 2:
        raise InvalidInput(f"a cluster needs at least 2 nodes, not {n}")
    # why: fixed ports (picked free just before, a tiny race) so a killed node restarts at
    # the same client and route URLs.
    ports = free_ports(2 * n)
    routes = [f"nats://127.0.0.1:{port}" for port in ports[n:]]
    nodes = [
        NatsServer(
            data_dir=Path(base_dir) / f"node{i}",
            port=ports[i],
            server_name=f"jetcron-{i}",
            extra_args=_cluster_args(routes, i),
        )
        for i in range(n)
    ]
    with contextlib.ExitStack() as stack:  # why: a failure stops the nodes already started
        for node in nodes:
            stack.enter_context(node)
        for node in nodes:
            node.wait_for_log(_META_LEADER, timeout)
        stack.pop_all()
    return nodes


def _cluster_args(routes: list[str], i: int) -> list[str]:
    """The cluster flags of node `i`: listen on its own route URL, solicit the others."""
    others = ",".join(url for j, url in enumerate(routes) if j != i)
    return ["--cluster", routes[i], "--routes", others, "--cluster_name", "jetcron"]
