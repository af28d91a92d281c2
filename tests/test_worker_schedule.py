"""How `make test` splits the tests into work units for its two workers (worker_schedule.py)."""

from __future__ import annotations

from collections import OrderedDict

from worker_schedule import SECONDS, SlowestFirstFileScheduling, unit_of


def test_a_layout_test_is_a_unit_of_its_layout_by_parameter_or_by_name():
    foreign = "tests/test_foreign_layouts.py"
    assert unit_of(f"{foreign}::test_label_rates_match_what_was_generated[no_signal]") == (
        f"{foreign}[no_signal]"
    )
    assert unit_of(f"{foreign}::test_erp_addons_bill_over_1_6_12_months") == (
        f"{foreign}[erp_addons]"
    )
    # two layouts named: the first
    name = "test_churn_only_never_expands_and_upsell_only_never_leaves"
    assert unit_of(f"{foreign}::{name}") == f"{foreign}[churn_only]"
    export = "tests/test_export_layouts.py"
    assert unit_of(f"{export}::test_export_runs_by_config_alone[crm_weekly]") == (
        f"{export}[crm_weekly]"
    )
    assert unit_of(f"{export}::test_tiny_same_day_is_refused") == export


def test_a_layout_name_inside_a_longer_word_is_not_that_layout():
    foreign = "tests/test_foreign_layouts.py"
    assert unit_of(f"{foreign}::test_xproduct_led_is_not[other]") == foreign
    assert unit_of(f"{foreign}::test_product_ledger_is_not") == foreign


def test_other_files_are_their_file_or_their_group():
    assert unit_of("tests/test_cli.py::test_help[train]") == "tests/test_cli.py"
    assert unit_of("tests/test_spark_parity.py::test_tiny_frames_match") == "spark"
    assert unit_of("tests/test_notebook.py::test_runs") == "trained-demo"
    assert unit_of("tests/test_cli.py::test_product_led") == "tests/test_cli.py"


class Node:
    def __init__(self):
        self.sent = []

    def send_runtest_some(self, indexes):
        self.sent.append(indexes)


def test_the_slowest_measured_unit_goes_out_first_then_the_unmeasured_in_order():
    fastest, slowest = min(SECONDS, key=SECONDS.__getitem__), max(SECONDS, key=SECONDS.__getitem__)
    scopes = ["tests/test_a.py", fastest, "tests/test_b.py", slowest]
    scheduler = SlowestFirstFileScheduling.__new__(SlowestFirstFileScheduling)
    scheduler.workqueue = OrderedDict((scope, {f"{scope}::t": False}) for scope in scopes)
    scheduler.assigned_work = {}
    node = Node()
    scheduler.registered_collections = {node: [f"{scope}::t" for scope in scopes]}
    for _ in scopes:
        scheduler._assign_work_unit(node)
    assert list(scheduler.assigned_work[node]) == [
        slowest,
        fastest,
        "tests/test_a.py",
        "tests/test_b.py",
    ]
    assert node.sent == [[3], [1], [0], [2]]
