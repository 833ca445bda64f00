"""How a log event is printed: ``[algo-1] message``, optionally with its timestamp."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TextIO

CHUNK_LINES = 8192

Event = tuple[int, int, int, str]
"""(timestamp in ms, stream order, sequence within the stream, message): sorts in merge order."""


def format_timestamp(ms: int) -> str:
    """RFC 3339 in UTC with milliseconds, like ``kubectl logs --timestamps`` (which has nanoseconds)."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class Printer:
    """Writes merged events to stdout in batches, flushing each so ``-f`` shows lines as they come."""

    def __init__(self, out: TextIO, *, timestamps: bool, prefix: bool) -> None:
        self.out = out
        self.timestamps = timestamps
        self.prefix = prefix
        self.labels: list[str] = []
        """Label of each stream, by its order number."""
        self.printed = 0
        """Lines written so far."""

    def add_label(self, label: str) -> int:
        self.labels.append(label)
        return len(self.labels) - 1

    def print(self, events: list[Event]) -> None:
        """Write ``events``; a small first chunk goes out at once, so the first line is not held back."""
        start, size = 0, CHUNK_LINES // 8
        while start < len(events):
            self._write(events[start : start + size])
            start += size
            size = CHUNK_LINES

    def _write(self, events: list[Event]) -> None:
        labels, lines = self.labels, []
        for ms, order, _, message in events:
            if message.endswith("\n"):
                message = message[:-1]
            head = f"[{labels[order]}] " if self.prefix else ""
            if self.timestamps:
                head += format_timestamp(ms) + " "
            lines.append(f"{head}{message}\n")
        self.out.write("".join(lines))
        self.out.flush()
        self.printed += len(lines)
