"""Free trials in a subscription history: the time before a row's trial ends is not paid.

Billing platforms keep a trial and the paid subscription it turns into as one row, priced at
the plan's full amount from its start, with the trial's end in another column. Counted as it
is, every trial is a paying customer from signup and every trial that does not convert is a
paying customer churning a few days later. With ``labels.trials: not_customers`` (the default)
a row counts from the end of its trial; a row that ended before its trial did (a trial that
never converted) is no customer time at all. ``labels.trials: customers`` keeps trials as paying
customers, as the rows say.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def paid_periods(subscriptions: ir.Table) -> ir.Table:
    """The subscription rows from the end of their trial on, without the trials that ended
    unconverted. Rows without a trial (``trial_end_at`` empty, or not after ``start_at``) stay
    as they are."""
    s = subscriptions
    trial = s.trial_end_at.notnull() & (s.trial_end_at > s.start_at)
    unconverted = trial & s.end_at.notnull() & (s.end_at <= s.trial_end_at)
    return s.filter(~unconverted).mutate(start_at=ibis.ifelse(trial, s.trial_end_at, s.start_at))


def paying_rows(subscriptions: ir.Table) -> ir.Table:
    """The subscription rows with an MRR above 0 (``labels.zero_mrr: not_customers``): a free
    plan or a trial kept as a row of its own at MRR 0 is then no customer time, so that the
    first payment starts a customer (not an expansion from 0) and a free account that never
    pays never churns."""
    return subscriptions.filter(subscriptions.mrr > 0)


def observed_start(subscriptions: ir.Table) -> ir.Value:
    """Subscription starts as observations of the data's extent: a paid start read off a trial's
    end is a scheduled date (a trial running at the export ends after it), not an observation."""
    s = subscriptions
    if "trial_end_at" not in s.columns:
        return s.start_at
    return s.start_at.nullif(s.trial_end_at)
