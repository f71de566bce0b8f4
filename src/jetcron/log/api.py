"""JetStream's own API subjects, named once: the readers use them, the roles' permissions too."""

from __future__ import annotations

JS_API = "$JS.API"
JS_ACK = "$JS.ACK"


def js_api(*parts: str) -> str:
    """A JetStream API subject, e.g. js_api("STREAM.INFO", "JETCRON")."""
    return ".".join([JS_API, *parts])


def js_ack(stream: str, consumer: str) -> str:
    """The ack subjects of one consumer's deliveries (a wildcard)."""
    return f"{JS_ACK}.{stream}.{consumer}.>"


EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
"""The compare-and-set header: the append lands only if the subject's last stored sequence is
this one (0: the subject holds nothing); `-Subject` next to it names another subject to check."""


def expect_last(seq: int) -> dict[str, str]:
    """Headers of an append that lands only if the subject's last sequence is `seq` (0: none)."""
    return {EXPECTED_LAST_SUBJECT_SEQ: str(seq)}


def kv_purge() -> dict[str, str]:
    """Headers of a KV purge: a marker that rolls the key's subject up (what nats-py's kv.purge
    sends), for publishing where the bucket is not opened as a KV. why a new dict each time:
    nats-py's publish adds its own headers (Nats-TTL) to the dict it is given."""
    return {"KV-Operation": "PURGE", "Nats-Rollup": "sub"}
