"""The scheduler: spec language, events, the schedule aggregate, the log, the command handler and the ticker."""
