"""The one clock of a worker: every decision about time reads it at the moment it is made.

Why a clock object instead of a ``now`` passed around: a platform call can take as long as its
read timeout (30 s by default), and a time captured before the call is stale after it. A settle
pause or a lease computed from that stale value is shorter by the whole call — long enough for a
second process to reclaim a delivery whose first call the platform is still processing, and post
it twice (issue 10). So the worker and its channels never carry a ``datetime`` across a call: they
ask :meth:`Clock.now` where the time is used.

The clock runs in real time; ``tick --now`` and the demo *set* it to a simulated moment, from
which it moves on with the real time spent (monotonic, so a wall-clock jump does not move it).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Now, in UTC. Thread-safe; cheap to read."""

    def __init__(self, at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._base: datetime | None = None
        self._started = 0.0
        if at is not None:
            self.set(at)

    def set(self, at: datetime | None) -> None:
        """Run from ``at`` (a simulated or given moment) on; ``None``: real time again."""
        with self._lock:
            if at is None:
                self._base = None
                return
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            self._base, self._started = at.astimezone(UTC), time.monotonic()

    @property
    def simulated(self) -> bool:
        return self._base is not None

    def now(self) -> datetime:
        with self._lock:
            base, started = self._base, self._started
        if base is None:
            return datetime.now(UTC)
        return base + timedelta(seconds=time.monotonic() - started)

    __call__ = now

    def __repr__(self) -> str:
        return f"Clock({'simulated ' if self.simulated else ''}{self.now().isoformat()})"
