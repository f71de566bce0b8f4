"""The shared language of jetcron, pure: definitions, events, commands, the spec language, validation."""
