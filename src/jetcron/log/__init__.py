"""The only package that speaks JetStream: the stream, reading, publishing, leases, heartbeats, snapshots."""
