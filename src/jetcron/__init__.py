"""jetcron: an event-sourced job scheduler whose source of truth is a NATS JetStream log."""

__version__ = "0.2.0"
