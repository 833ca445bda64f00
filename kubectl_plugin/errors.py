"""Exit codes and the one exception type that carries a message for the user."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``kubectl smlogs`` exits with; scripts can tell a failed job from a failed read."""

    OK = 0
    """Logs printed; with ``-f``, the job Completed."""
    ERROR = 1
    """Nothing (or not everything) could be shown: unknown resource, no permission, no logs..."""
    USAGE = 2
    """Bad command line."""
    FAILED = 3
    """With ``-f``: the job (or endpoint) Failed."""
    STOPPED = 4
    """With ``-f``: the job was Stopped."""
    DELETED = 5
    """With ``-f``: the resource was deleted while following."""
    INTERRUPTED = 130
    """Ctrl-C."""
    BROKEN_PIPE = 141
    """The reader of stdout went away (``| head``), as for any Unix tool killed by SIGPIPE."""


class SmlogsError(Exception):
    """An error shown to the user as one message, without a traceback."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
