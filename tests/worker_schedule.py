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

# Wall seconds of each unit (setup included) in one parallel run on a busy machine, from
# `--junitxml` (the export layouts' split estimated from their sizes); the largest goes out
# first. Only the order matters: rough figures are enough.
SECONDS = {
    "spark": 465,
    "tests/test_flows.py": 375,
    "trained-demo": 340,
    "tests/test_foreign_layouts.py[product_led]": 235,
    "tests/test_flows_trust.py": 220,
    "tests/test_bad_inputs.py": 220,
    "tests/test_foreign_layouts.py[no_signal]": 160,
    "tests/test_train.py": 155,
    "tests/test_validation.py": 145,
    "tests/test_export_layouts.py[billing_platform]": 130,
    "tests/test_export_layouts.py[product_analytics]": 130,
    "tests/test_export_layouts.py[trial_billing]": 130,
    "tests/test_flows_targets.py": 130,
    "tests/test_sinks_faults.py": 130,
    "tests/test_foreign_layouts.py[erp_addons]": 120,
    "tests/test_foreign_layouts.py[churn_only]": 120,
    "tests/test_flows_track_record.py": 115,
    "tests/test_flows_failure.py": 115,
    "tests/test_export_layouts.py[crm_weekly]": 110,
    "tests/test_foreign_layouts.py[telemetry_export]": 110,
    "tests/test_reference_parity.py": 105,
    "tests/test_mapping.py": 90,
    "tests/test_foreign_layouts.py[status_only]": 65,
    "tests/test_foreign_layouts.py[upsell_only]": 60,
    "tests/test_export_layouts.py[degenerate]": 50,
    "tests/test_features.py": 55,
    "tests/test_activity.py": 50,
    "tests/test_deployments.py": 45,
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
