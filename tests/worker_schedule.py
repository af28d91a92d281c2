"""How `make test` shares the tests between its pytest-xdist workers (`-n 2 --dist loadfile`).

xdist's loadfile sends whole files, so module fixtures are built once, but it orders them by test
count: the few-test files that take minutes (Spark, the foreign layouts) went out last and one
worker ran them alone while the other had finished. Here the units measured slowest go out first,
the files of one group below always run on the same worker, and the layout files are split by
layout: their module fixtures generate and run a layout on first use, so each worker builds only
the layouts it is given and the two workers share the minutes of end-to-end runs. The order only
decides how evenly the workers finish; a unit missing from SECONDS runs after the measured ones.
"""

from __future__ import annotations

import re

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


def _layout_names() -> dict[str, tuple[str, ...]]:
    import foreign_layouts as fl

    return {
        "tests/test_foreign_layouts.py": tuple(fl.LAYOUTS),
        "tests/test_export_layouts.py": tuple(fl.EXPORT_LAYOUTS),
    }


# Files split into one unit per layout: a test whose id names a layout (its parameter, or the
# layout's name in the test's name) runs with that layout's other tests; one naming none stays
# with the file.
PER_LAYOUT = _layout_names()

# Wall seconds of each unit (setup included) in a parallel run, from `--junitxml`; the largest
# goes out first. Only the order matters: rough figures are enough.
SECONDS = {
    "spark": 200,
    "trained-demo": 150,
    "tests/test_foreign_layouts.py[product_led]": 105,
    "tests/test_foreign_layouts.py[telemetry_export]": 90,
    "tests/test_foreign_layouts.py[churn_only]": 65,
    "tests/test_foreign_layouts.py[no_signal]": 65,
    "tests/test_foreign_layouts.py[erp_addons]": 55,
    "tests/test_foreign_layouts.py[upsell_only]": 30,
    "tests/test_foreign_layouts.py[status_only]": 30,
    "tests/test_export_layouts.py[billing_platform]": 40,
    "tests/test_export_layouts.py[product_analytics]": 40,
    "tests/test_export_layouts.py[trial_billing]": 40,
    "tests/test_export_layouts.py[crm_weekly]": 35,
    "tests/test_export_layouts.py[degenerate]": 15,
    "tests/test_flows.py": 120,
    "tests/test_flows_trust.py": 60,
    "tests/test_secrets.py": 50,
    "tests/test_flows_targets.py": 50,
    "tests/test_flows_failure.py": 45,
    "tests/test_flows_track_record.py": 40,
    "tests/test_deployments.py": 35,
}


def unit_of(nodeid: str) -> str:
    """The work unit of a test id: its file, its file's group, or its file and layout."""
    file, _, test = nodeid.partition("::")
    names = PER_LAYOUT.get(file)
    if names:
        found = [
            (match.start(), name)
            for name in names
            if (match := re.search(rf"(?<![a-z]){re.escape(name)}(?![a-z])", test))
        ]
        if found:
            return f"{file}[{min(found)[1]}]"
    return SAME_WORKER.get(file, file)


class SlowestFirstFileScheduling(LoadFileScheduling):
    """loadfile with the units of `unit_of`, the slowest of SECONDS handed out first."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _assign_work_unit(self, node) -> None:
        measured = [scope for scope in self.workqueue if scope in SECONDS]
        if measured:
            self.workqueue.move_to_end(max(measured, key=SECONDS.__getitem__), last=False)
        super()._assign_work_unit(node)
