"""Progress of a long command: a live line on a terminal, the time of each step at the end.

Prefect logs one record when a flow run begins and one per finished task run; the flows run
their steps one after another, so a step took from the previous step's end (or the flow's
start, after any temporary server has started) to its own. Nothing here
changes what the flows do: it only listens to their log records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field


@dataclass
class StepTimes:
    """Finished steps in order, with their durations in seconds."""

    started: float = field(default_factory=time.time)
    steps: list[tuple[str, float]] = field(default_factory=list)
    last: float | None = None

    def flow_began(self, at: float) -> None:
        """Steps count from the flow's start, not from the temporary server's start-up."""
        self.started, self.last = at, None

    def finished(self, name: str, at: float) -> None:
        self.steps.append((name, max(at - (self.last or self.started), 0.0)))
        self.last = at

    def line(self, what: str, now: float | None = None) -> str:
        """What the live line shows: elapsed time, steps done, the last one and its time."""
        elapsed = (now or time.time()) - self.started
        if not self.steps:
            return f"{what}: starting ({elapsed:.0f} s)"
        name, seconds = self.steps[-1]
        return (
            f"{what}: {len(self.steps)} steps done, last {name} in {seconds:.1f} s "
            f"({elapsed:.0f} s elapsed)"
        )

    def summary(self, top: int = 6) -> str:
        """The slowest steps, slowest first (a step run per target adds up)."""
        totals: dict[str, float] = {}
        for name, seconds in self.steps:
            totals[name] = totals.get(name, 0.0) + seconds
        slowest = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
        shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest)
        return f"slowest steps: {shown}" if shown else ""


class StepListener(logging.Handler):
    """Feeds Prefect's "task run finished" records into StepTimes and refreshes the line."""

    def __init__(self, times: StepTimes, refresh=None) -> None:
        super().__init__(logging.INFO)
        self.times = times
        self.refresh = refresh

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == "prefect.flow_runs" and message.startswith("Beginning flow run"):
            self.times.flow_began(record.created)
            return
        name = getattr(record, "task_name", None)
        if not name or not message.startswith("Finished in state"):
            return
        self.times.finished(name, record.created)
        if self.refresh is not None:
            self.refresh()


@contextmanager
def step_progress(what: str, console=None) -> Iterator[StepTimes]:
    """Listen to the flow's steps while the block runs; on a terminal, show a live line."""
    from rich.console import Console

    console = console or Console(stderr=True)
    times = StepTimes()
    live = console.status(times.line(what)) if console.is_terminal else nullcontext()
    logger = logging.getLogger("prefect")  # flow and task run records both reach it
    with live as status:
        refresh = (lambda: status.update(times.line(what))) if status is not None else None
        listener = StepListener(times, refresh)
        logger.addHandler(listener)
        try:
            yield times
        finally:
            logger.removeHandler(listener)
