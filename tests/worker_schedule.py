"""How `make test` shares the test files between its pytest-xdist workers (`-n 2 --dist loadfile`).

xdist's loadfile sends whole files, so module fixtures are built once, but it orders them by test
count: the few-test files that take minutes (Spark, the foreign layouts) went out last and one
worker ran them alone while the other had finished. Here the files measured slowest go out first,
and the files of one group below always run on the same worker. The order only decides how evenly
the workers finish; a file missing from these tables runs as xdist would run it.
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling

SAME_WORKER = {
    # the session's trained demo (conftest `trained_demo`): trained once, not once per worker
    "tests/test_api.py": "trained-demo",
    "tests/test_notebook.py": "trained-demo",
    "tests/test_flows_drift.py": "trained-demo",
    # each starts a Spark JVM with the default 11 GB driver heap: never two at once
    "tests/test_spark_defaults.py": "spark",
    "tests/test_spark_parity.py": "spark",
}

# Slowest first, from `--durations` of serial and parallel runs (each 1-4 CPU minutes).
SLOWEST_FIRST = (
    "spark",
    "tests/test_foreign_layouts.py",
    "trained-demo",
    "tests/test_export_layouts.py",
    "tests/test_flows.py",
    "tests/test_flows_trust.py",
    "tests/test_secrets.py",
    "tests/test_flows_targets.py",
    "tests/test_flows_failure.py",
    "tests/test_flows_track_record.py",
    "tests/test_deployments.py",
)


class SlowestFirstFileScheduling(LoadFileScheduling):
    """loadfile with the groups of SAME_WORKER as one unit each, SLOWEST_FIRST handed out first."""

    def _split_scope(self, nodeid: str) -> str:
        file = super()._split_scope(nodeid)
        return SAME_WORKER.get(file, file)

    def _assign_work_unit(self, node) -> None:
        slowest = next((scope for scope in SLOWEST_FIRST if scope in self.workqueue), None)
        if slowest is not None:
            self.workqueue.move_to_end(slowest, last=False)
        super()._assign_work_unit(node)
