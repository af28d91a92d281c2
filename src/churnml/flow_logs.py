"""How flows run for a person (CLI) or a program (API): Prefect's settings before it is
imported, and log lines without tracebacks for failures whose message already says what to fix."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator


def prefect_defaults() -> None:
    """Before Prefect is imported: no telemetry, time for a cold temporary server."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def known_failures() -> tuple[type[Exception], ...]:
    """Failures whose message already says what to fix: shown without a traceback."""
    from churnml.drift import DriftError
    from churnml.io.sinks import SinkError
    from churnml.io.sources import SourceError
    from churnml.io.spark import SparkEngineError
    from churnml.io.tracking import TrackingError
    from churnml.track_record import TrackRecordError
    from churnml.trainable import TrainingError
    from churnml.validation import DataValidationError

    return (
        DataValidationError,
        SourceError,
        SinkError,
        TrackingError,
        DriftError,
        TrackRecordError,
        TrainingError,
        SparkEngineError,
    )


# What each failure is called on its one line, by class name (the nearest in the class's
# ancestry wins): the reader sees words, not a Python class name.
_FAILURE_WORDS = {
    "NoChampion": "no champion",
    "TrackingError": "tracking error",
    "AsOfAfterDataError": "as-of error",
    "NoActiveAccountsError": "as-of error",
    "DataValidationError": "data problem",
    "TrainingError": "training error",
    "TrackRecordError": "evaluation error",
    "DriftError": "drift error",
    "OutputError": "output error",
    "WarehouseBusyError": "warehouse busy",
    "SourceError": "source error",
    "SinkError": "output error",
    "SparkEngineError": "Spark error",
    "ScheduleError": "schedule error",
}


def failure_line(exc: BaseException) -> str:
    """A known failure as the CLI says it: what kind of failure in words, then its message. A
    message that already opens with a count of data problems needs no prefix."""
    message = str(exc)
    if message[:1].isdigit() and " data problem" in message.split("\n", 1)[0]:
        return message
    words = next(
        (_FAILURE_WORDS[c.__name__] for c in type(exc).__mro__ if c.__name__ in _FAILURE_WORDS),
        "error",
    )
    return f"{words}: {message}"


class KnownFailureFilter(logging.Filter):
    """Prefect logs a failed task or flow with its traceback; for a failure whose message
    already says what to fix, keep the log line and drop the traceback."""

    def __init__(self, known: tuple[type[Exception], ...]) -> None:
        super().__init__()
        self.known = known

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, self.known):
            record.exc_info, record.exc_text = None, None
        return True


@contextlib.contextmanager
def prefect_logs_without_known_tracebacks() -> Iterator[None]:
    """Prefect logs a failed flow with its traceback; a failure whose message already says
    what to fix keeps its log line without one. Entered after the flows are imported: Prefect
    sets up its log handlers on import."""
    quiet = KnownFailureFilter(known_failures())
    handlers = {
        handler
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.startswith("prefect") and isinstance(logger, logging.Logger)
        for handler in logger.handlers
    }
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


# `extra` of a flow log record whose text the CLI prints itself (the training summary): the
# flow's log keeps it (Prefect's UI, a served run), the terminal shows it once, on stdout.
PRINTED_BY_THE_CLI = {"churnml_printed_by_the_cli": True}


class _PrintedByTheCli(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "churnml_printed_by_the_cli", False)


@contextlib.contextmanager
def console_without_what_the_cli_prints() -> Iterator[None]:
    """Prefect's console handlers skip the records the CLI prints itself (PRINTED_BY_THE_CLI);
    its other handlers (the run's log in Prefect's store) keep them."""
    skip = _PrintedByTheCli()
    loggers = [logging.getLogger()] + [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.startswith("prefect") and isinstance(logger, logging.Logger)
    ]
    handlers = {
        handler
        for logger in loggers
        for handler in logger.handlers
        if type(handler).__name__ == "PrefectConsoleHandler"
    }
    for handler in handlers:
        handler.addFilter(skip)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(skip)
