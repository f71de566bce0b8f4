"""Errors of the domain: input the decider or the spec language refuses."""

from __future__ import annotations

from jetcron.errors import InvalidInput


class InvalidSpec(InvalidInput):
    """A schedule spec that does not parse; the message names the field and the problem."""

    def __init__(self, spec: str, problem: str) -> None:
        self.spec = spec
        self.problem = problem
        super().__init__(f"invalid spec {spec!r}: {problem}")


class InvalidTimezone(InvalidInput):
    """A time zone name that is not in the IANA database."""

    def __init__(self, tz: str, hint: str | None = None) -> None:
        self.tz = tz
        suffix = f" (did you mean {hint!r}?)" if hint else ""
        super().__init__(f"unknown time zone {tz!r}{suffix}")


class CommandRejected(InvalidInput):
    """The aggregate refused a command; `reason` is meant for the operator."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ScheduleNotFound(CommandRejected, LookupError):
    """No live schedule has this name."""

    def __init__(self, name: str, hint: str = "") -> None:
        self.name = name
        self.hint = hint
        """Why it may be missing (a deleted schedule the views no longer hold)."""
        super().__init__(f"schedule {name!r} not found" + (f": {hint}" if hint else ""))


class CalendarNotFound(CommandRejected, LookupError):
    """No live calendar has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"calendar {name!r} not found")


class VersionMismatch(CommandRejected):
    """A command said which version it expects (HTTP If-Match) and the schedule is at another."""

    @classmethod
    def of(cls, name: str, version: int, expected: int) -> VersionMismatch:
        """The mismatch of schedule `name`, at `version` where `expected` was asked for."""
        return cls(
            f"schedule {name!r} is at version {version}, not {expected}: "
            "someone changed it; reload and try again"
        )


class NotificationNotFound(CommandRejected, LookupError):
    """No live notification has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no notification {name!r}; see `jetcron notify list`")


class InvalidField(InvalidInput):
    """A schedule field (as an operator writes it) with a value it cannot take."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")
