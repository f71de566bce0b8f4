"""`jetcron web`: the HTTP API (/api/v1) and the browser console, a gateway onto NATS.

Stateless: every answer comes from the same commands and queries the CLI sends over NATS,
so several gateways can run behind a load balancer. Sits beside `cli/`, never imports it.
"""
