"""The progress of a long command, from Prefect's task-run records."""

import io
import logging

from rich.console import Console

from churnml.cli_progress import StepListener, StepTimes, step_progress


def finished(name: str | None, at: float, message: str = "Finished in state Completed()"):
    record = logging.LogRecord("prefect.task_runs", logging.INFO, __file__, 1, message, None, None)
    record.created = at
    if name is not None:
        record.task_name = name
    return record


def test_each_step_takes_from_the_previous_end_and_repeated_steps_add_up():
    times = StepTimes(started=100.0)
    listener = StepListener(times)
    for record in [
        finished("extract", 103.0),
        finished(None, 104.0),  # a flow record: not a step
        finished("build_matrix", 150.0),
        finished("train_target", 170.0, "Task run failed"),  # not a finish
        finished("train_target", 180.0),
        finished("train_target", 200.0),
    ]:
        listener.emit(record)
    assert times.steps == [
        ("extract", 3.0),
        ("build_matrix", 47.0),
        ("train_target", 30.0),
        ("train_target", 20.0),
    ]
    assert times.summary(top=2) == "slowest steps: train_target 50.0 s, build_matrix 47.0 s"
    assert times.line("churnml train", now=230.0) == (
        "churnml train: 4 steps done, last train_target in 20.0 s (130 s elapsed)"
    )
    assert StepTimes(started=0.0).line("x", now=5.0) == "x: starting (5 s)"
    assert StepTimes().summary() == ""


def test_steps_count_from_the_flow_start_not_from_the_server_start_up():
    times = StepTimes(started=0.0)
    listener = StepListener(times)
    begin = logging.LogRecord(
        "prefect.flow_runs",
        logging.INFO,
        __file__,
        1,
        "Beginning flow run 'x' for flow 'y'",
        None,
        None,
    )
    begin.created = 20.0
    listener.emit(begin)
    listener.emit(finished("read_config", 20.5))
    assert times.steps == [("read_config", 0.5)]


def test_the_listener_is_attached_only_while_the_command_runs():
    logger = logging.getLogger("prefect")
    before = list(logger.handlers)
    quiet = Console(file=io.StringIO(), force_terminal=False)
    with step_progress("churnml score", quiet) as times:
        assert len(logger.handlers) == len(before) + 1
        logger.handlers[-1].emit(finished("score", times.started + 2))
    assert logger.handlers == before
    assert times.steps[0][0] == "score"
    live = Console(file=io.StringIO(), force_terminal=True)
    with step_progress("churnml train", live) as times:
        logger.handlers[-1].emit(finished("extract", times.started + 1))
    assert logger.handlers == before and times.steps[0][0] == "extract"
