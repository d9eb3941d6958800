"""The fleet's own exceptions, shared by the connection layer, the runner and its users."""

from __future__ import annotations


class Unreachable(Exception):
    """The host cannot be used: no route, refused, timed out, host key refused, auth failed,
    link lost. The runner reports the host unreachable and goes on with the others."""

    def __init__(self, host: str, reason: str = "") -> None:
        super().__init__(f"{host}: {reason}" if reason else host)
        self.host = host
        self.reason = reason


class CommandTimeout(Exception):
    """A command ran longer than its timeout; its channel was closed."""


class StopRollout(Exception):
    """A wave crossed its failure threshold (max_fail_percentage, any_errors_fatal): no later
    task, wave or play runs. Raised where the threshold is checked, caught by the run."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
