"""The scheduler component: the decider, the planner and ticker, the breaker and the command handler."""
