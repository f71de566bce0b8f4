"""Who may do what: roles as NATS users (nkeys), their generated permissions, TLS material."""
