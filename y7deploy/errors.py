"""Errors every room shares, and the exit codes the CLI maps them to.

Library code raises; only the CLI turns an error into a message and an exit code,
so the same functions can be used from Python without a process exiting under them.
"""

EXIT_OK = 0
EXIT_BAD_INPUT = 2  # nothing was changed on any device
EXIT_HOSTS_FAILED = 3  # some hosts failed or were unreachable
EXIT_ABORTED = 4  # rollout stopped by the failure threshold


class UserError(Exception):
    """Bad input: a file, line or value the user can fix. The CLI prints it and exits 2.

    The message must name what is wrong (file, line, value) in one line.
    """


class NotAvailable(UserError):
    """A capability this machine lacks (no GPU, not root, a missing kernel feature)."""
