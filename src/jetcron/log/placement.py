"""Replica counts of the log's stream, its KV buckets and its snapshot store: raised to what is
asked, never lowered, and what cannot be met said in one line.

why one rule for all of them: `serve --replicas 3` on a cluster is a promise that any node can
die; a bucket left at R1 (the executors', the commands', the secrets', the snapshots') made
`status`, `health` and new executors fail with the one node holding it, and lost the secrets
with its disk. JetStream scales a stream up in place (a KV bucket is the stream KV_<name>, an
object store OBJ_<name>); lowering is an admin's decision (`nats stream edit`), never ours.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from nats.aio.client import Client
from nats.js.api import ClusterInfo, StreamConfig
from nats.js.errors import APIError

from jetcron.errors import InvalidInput

log = logging.getLogger(__name__)

UNPLACEABLE = frozenset({10005, 10074})
"""JetStream's "no suitable peers for placement" and "replicas > 1 not supported in
non-clustered mode": more replicas than the servers that can hold them."""


class ReplicasUnplaceable(InvalidInput):
    """A new stream asked for more replicas than the NATS servers can hold."""

    def __init__(self, stream: str, asked: int, nodes: int, detail: str) -> None:
        self.stream, self.asked, self.nodes = stream, asked, nodes
        super().__init__(
            f"cannot create {stream} with {asked} replicas: the NATS server reports "
            f"{_nodes(nodes)} ({detail}); run --replicas {min(asked, nodes) or 1} or add nodes"
        )


def nodes_seen(nc: Client) -> int:
    """How many servers the one we are connected to reports (its cluster's client URLs; 1 if
    it is not clustered).

    why only for the message: a server that does not advertise its peers reports none, so the
    count is what the client knows, not a limit we enforce (JetStream's answer is the limit).
    """
    info: dict[str, Any] = getattr(nc, "_server_info", {}) or {}
    return max(1, len(info.get("connect_urls") or []))


def unplaceable(err: BaseException) -> bool:
    """True if JetStream refused a stream for want of servers to place its replicas."""
    return isinstance(err, APIError) and err.err_code in UNPLACEABLE


def refused_creation(nc: Client, stream: str, asked: int, err: APIError) -> ReplicasUnplaceable:
    """The one-line error for a new stream whose replicas cannot be placed."""
    return ReplicasUnplaceable(stream, asked, nodes_seen(nc), err.description or str(err))


class Scaled(NamedTuple):
    """A stream's replica count before and after raise_to."""

    before: int
    after: int


async def raise_to(
    nc: Client, stream: str, wanted: int, *, asked: bool = True, say: bool = True
) -> Scaled:
    """Raise `stream` to `wanted` replicas if it has fewer.

    One warning line when it cannot be (naming both numbers), when it is raised (if `say`;
    a caller raising several streams says it once), and, if the count was `asked` by the
    user, when the stream has more (kept: never lowered here).
    """
    js = nc.jetstream()
    info = await js.stream_info(stream)
    have = int(info.config.num_replicas or 1)
    if wanted < have and asked:
        log.warning(
            "%s has %d replicas, --replicas asks %d: kept at %d (lowering is an admin's "
            "decision: `nats stream edit %s --replicas %d`)",
            stream, have, wanted, have, stream, wanted,
        )  # fmt: skip
    if wanted <= have:
        return Scaled(have, have)
    try:
        await js.update_stream(_scaled(info.config, wanted))
    except APIError as err:
        if not unplaceable(err):
            raise
        log.warning(
            "%s stays at %d replica(s): %d asked, but the NATS server reports %s (%s)",
            stream, have, wanted, _nodes(nodes_seen(nc)), err.description or err,
        )  # fmt: skip
        return Scaled(have, have)
    if say:
        log.warning("%s: replicas raised from %d to %d", stream, have, wanted)
    return Scaled(have, wanted)


def _scaled(config: StreamConfig, replicas: int) -> StreamConfig:
    """The stream's own config with another replica count (nothing else changes)."""
    config.num_replicas = replicas
    return config


def _nodes(n: int) -> str:
    return "1 node (not a cluster)" if n == 1 else f"{n} nodes"


def lost_quorum(stream: str, cluster: ClusterInfo | None) -> str | None:
    """Why a stream takes no appends, from its leader's view of its peers; None if it can.
    why: a leader left alone still answers STREAM.INFO, so views read to its end looked
    current while nothing could be stored (newcomer19c #11: `runs list`, `fires` said nothing)."""
    peers = (cluster.replicas or []) if cluster is not None else []
    total = len(peers) + 1
    offline = sum(1 for p in peers if p.offline)
    if 2 * (total - offline) > total:
        return None
    return (
        f"{offline} of {total} replicas of stream {stream} are offline: no quorum, nothing new "
        "can be stored until they are back"
    )
