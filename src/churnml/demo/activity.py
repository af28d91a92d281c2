"""The demo's CS activity log, and a play whose effect on churn is known (docs/demo-data.md).

The demo CS team touches accounts routinely (emails, calls, webinars, in-app messages,
meetings, QBRs) and runs one program with a documented effect. At the start of every month it
considers its high- and mid-touch accounts (Mid-Market and Enterprise) not considered in the
last three months, flags most of them for an **Executive rescue** (riskier ones more often: a
noisy reading of their hidden churn drivers), and, capacity permitting, holds an executive
check-in (a ``meeting`` logged with the play) within five days. Whether a flagged account gets
its check-in is a coin toss (``DONE_SHARE``), so the accounts where the play was done and those
where it was not are comparable by construction.

The effect: each cancellation that would happen from the check-in until 90 days after the
month start is prevented with probability ``HAZARD_CUT`` (30%): the churn hazard over that
window is cut by 30%. A prevented cancellation becomes a renewal and the account cancels
120-240 days later instead (or not within the data; or it simply stays on if it came back
later anyway).

Applied after the contract simulation, on its result, with random streams of its own drawn for
every account every month: for a given seed, only the contracts a check-in saved change, and
the usage, tickets and NPS answers of the time it added are generated on separate streams and
appended (churnml.demo_data). ``demo_play_truth`` keeps each flagged account-month: done or
not, and whether its check-in prevented a cancellation that would have counted as churn, so
the measurement (churnml.plays) can be checked against it.

Pure generation: numpy and pandas only, no I/O.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from churnml.demo.base import demo_window, stream

PLAY_NAME = "Executive rescue"
CHECKIN_KIND = "meeting"
DUE_DAYS = 5  # the default playbook's due date for this play
DONE_SHARE = 0.5
HAZARD_CUT = 0.30
EFFECT_DAYS = 90
POSTPONE_DAYS = (120, 240)
REACTIVATION_GAP_DAYS = 30  # the default label's: a return within it is not a churn
FLAGGED_SEGMENTS = ("Mid-Market", "Enterprise")
FLAG_LOGIT = (2.0, 1.0)  # monthly flag chance: sigmoid(a + b x standardised risk)
# An account flagged once is not flagged again for three months: its outcome window is its own.
COOLDOWN_MONTHS = 3
# Routine touches per active account and month, by segment, and the kinds they come in.
ROUTINE_PER_MONTH = {"SMB": 0.5, "Mid-Market": 1.5, "Enterprise": 3.0}
ROUTINE_KINDS = ("email", "in_app", "call", "webinar", "meeting", "qbr")
ROUTINE_KIND_P = {
    "SMB": (0.45, 0.40, 0.05, 0.10, 0.0, 0.0),
    "Mid-Market": (0.40, 0.20, 0.20, 0.10, 0.08, 0.02),
    "Enterprise": (0.30, 0.10, 0.25, 0.05, 0.20, 0.10),
}
TABLE = 6  # this module's random streams: stream(seed, 6, purpose, month), apart from the rest


def _rng(seed: int, purpose: int, *more: int) -> np.random.Generator:
    return stream(seed, TABLE, purpose, *more)


def _month_starts(months: int, end: date) -> pd.DatetimeIndex:
    window_start, until = demo_window(months, end)
    first = window_start.to_period("M").to_timestamp()
    starts = pd.date_range(first, until, freq="MS")
    return starts[(starts >= window_start) & (starts < until)]


def _risk(latent: pd.DataFrame) -> np.ndarray:
    """The CS team's noisy reading of the hidden churn drivers, standardised."""
    z = (
        2.3 * (1 - latent["product_fit"].to_numpy())
        + 2.2 * latent["support_pain"].to_numpy()
        + 0.9 * latent["price_pressure"].to_numpy()
    )
    return (z - z.mean()) / (z.std() or 1.0)


def _active_at(ids: np.ndarray, subs: pd.DataFrame, as_of: pd.Timestamp) -> np.ndarray:
    """Per account (in ``ids`` order): a subscription row is live at the instant."""
    start = subs["start_at"].to_numpy()
    end = subs["end_at"].to_numpy()
    live = (start <= as_of.to_datetime64()) & (np.isnat(end) | (end > as_of.to_datetime64()))
    pos = pd.Index(ids).get_indexer(subs["account_id"].to_numpy()[live])
    active = np.zeros(len(ids), bool)
    active[pos[pos >= 0]] = True
    return active


def _cancellations(subs: pd.DataFrame) -> pd.DataFrame:
    """Rows whose end is a cancellation (no row of the account starts at that instant), with
    the start of the account's next row after it (a comeback), if any."""
    s = subs[["account_id", "start_at", "end_at"]].reset_index()
    starts = set(zip(s["account_id"], s["start_at"], strict=True))
    ended = s[s["end_at"].notna()]
    contiguous = [
        (a, e) in starts for a, e in zip(ended["account_id"], ended["end_at"], strict=True)
    ]
    out = ended[~np.asarray(contiguous, dtype=bool)].copy()
    nxt = s.sort_values("start_at")[["account_id", "start_at"]].rename(
        columns={"start_at": "next_start"}
    )
    out = pd.merge_asof(
        out.sort_values("end_at"),
        nxt.sort_values("next_start"),
        left_on="end_at",
        right_on="next_start",
        by="account_id",
        direction="forward",
    )
    return out.set_index("index")


def _no_flags() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": pd.Series([], dtype="str"),
            "as_of": pd.Series([], dtype="datetime64[us]"),
            "play_name": pd.Series([], dtype="str"),
            "play_due": pd.Series([], dtype="datetime64[us]"),
            "segment": pd.Series([], dtype="str"),
            "done": pd.Series([], dtype="bool"),
            "checkin_at": pd.Series([], dtype="datetime64[us]"),
            "would_churn": pd.Series([], dtype="bool"),
            "prevented_churn": pd.Series([], dtype="bool"),
        }
    )


def _month_draws(seed: int, k: int, n: int) -> tuple[np.ndarray, ...]:
    """Month ``k``'s draws per account, each from its own stream so that one never shifts
    another: flag, done, day and minute of the check-in, rescue."""
    return (
        _rng(seed, 1, k).random(n),
        _rng(seed, 2, k).random(n),
        _rng(seed, 3, k).integers(0, DUE_DAYS, n),
        _rng(seed, 4, k).integers(9 * 60, 17 * 60, n),
        _rng(seed, 5, k).random(n),
    )


def _first_cancellation(cancellations: pd.DataFrame, acc: pd.Index, as_of) -> pd.DataFrame:
    """Each flagged account's first cancellation within the play's effect (end_at, next_start
    and its row in the subscriptions; NaT where none)."""
    horizon = as_of + pd.Timedelta(days=EFFECT_DAYS)
    cancel = cancellations[(cancellations["end_at"] >= as_of) & (cancellations["end_at"] < horizon)]
    first = cancel.sort_values("end_at").drop_duplicates("account_id")
    return first.assign(row=first.index).set_index("account_id").reindex(acc)


def _postpone(subs, cancellations, row, old_end, nxt, new_end, until):
    """Move one prevented cancellation later (in ``subs``, in place); returns the updated
    cancellations and the contract time added (old end, new end)."""
    if pd.notna(nxt) and new_end >= nxt:
        new_end = nxt  # it came back anyway: the contract simply runs on
    if new_end >= until:
        new_end = pd.NaT
    subs.loc[row, "end_at"] = new_end
    if pd.isna(new_end) or new_end == nxt:
        cancellations = cancellations.drop(index=row)
    else:
        cancellations.loc[row, "end_at"] = new_end
    return cancellations, (old_end, new_end)


def _checkins(accounts: pd.Index, at, owner: pd.Series) -> pd.DataFrame:
    """The activity rows of the check-ins done, each naming the play it carried out."""
    return pd.DataFrame(
        {
            "account_id": accounts,
            "occurred_at": at,
            "kind": CHECKIN_KIND,
            "owner": owner.reindex(accounts).to_numpy(),
            "play": PLAY_NAME,
        }
    )


def apply_plays(
    accounts: pd.DataFrame,
    latent: pd.DataFrame,
    subscriptions: pd.DataFrame,
    months: int,
    seed: int,
    end: date,
) -> dict[str, pd.DataFrame]:
    """The program month by month: flags, check-ins, prevented cancellations.

    Returns ``subscriptions`` (with prevented cancellations moved), ``checkins`` (activity
    rows), ``truth`` (one row per flagged account-month) and ``extensions`` (the contract time
    each prevention added: account_id, start_at, end_at).
    """
    _, until = demo_window(months, end)
    subs = subscriptions.copy()
    ids = latent["account_id"].to_numpy()
    n = len(ids)
    segment = accounts.set_index("account_id")["segment"].reindex(ids).to_numpy()
    owner = accounts.set_index("account_id")["csm_owner"].reindex(ids)
    eligible = np.isin(segment, FLAGGED_SEGMENTS)
    p_flag = 1.0 / (1.0 + np.exp(-(FLAG_LOGIT[0] + FLAG_LOGIT[1] * _risk(latent))))
    truth, checkins, extensions = [], [], []
    cancellations = _cancellations(subs)  # kept up to date as preventions move them
    last_flag = np.full(n, -COOLDOWN_MONTHS, np.int64)
    for k, as_of in enumerate(_month_starts(months, end)):
        flag_draw, done_draw, day, minute, rescue_draw = _month_draws(seed, k, n)
        active = _active_at(ids, subs, as_of)
        rested = k - last_flag >= COOLDOWN_MONTHS
        flagged = np.flatnonzero(active & eligible & rested & (flag_draw < p_flag))
        last_flag[flagged] = k
        if not len(flagged):
            continue
        done = done_draw[flagged] < DONE_SHARE
        checkin_at = (
            as_of
            + pd.to_timedelta(day[flagged], unit="D")
            + pd.to_timedelta(minute[flagged], unit="min")
        )
        acc = pd.Index(ids[flagged])
        first = _first_cancellation(cancellations, acc, as_of)
        c_end, c_next, c_row = first["end_at"], first["next_start"], first["row"]
        would_churn = (
            c_end.notna()
            & (c_next.isna() | (c_next - c_end >= pd.Timedelta(days=REACTIVATION_GAP_DAYS)))
        ).to_numpy()
        in_effect = (c_end.notna() & (c_end >= pd.Series(checkin_at, index=acc))).to_numpy()
        prevented = done & in_effect & (rescue_draw[flagged] < HAZARD_CUT)
        postpone = _rng(seed, 6, k).integers(*POSTPONE_DAYS, n)[flagged]
        for j in np.flatnonzero(prevented):
            postponed = c_end.iloc[j] + pd.Timedelta(days=int(postpone[j]))
            cancellations, extension = _postpone(
                subs, cancellations, c_row.iloc[j], c_end.iloc[j], c_next.iloc[j], postponed, until
            )
            extensions.append((acc[j], *extension))
        truth.append(
            pd.DataFrame(
                {
                    "account_id": acc,
                    "as_of": as_of,
                    "play_name": PLAY_NAME,
                    "play_due": as_of + pd.Timedelta(days=DUE_DAYS),
                    "segment": segment[flagged],
                    "done": done,
                    "checkin_at": pd.Series(checkin_at).where(done).to_numpy(),
                    "would_churn": would_churn,
                    "prevented_churn": prevented & would_churn,
                }
            )
        )
        checkins.append(_checkins(acc[done], checkin_at[done], owner))
    truth_frame = pd.concat(truth, ignore_index=True) if truth else _no_flags()
    return {
        "subscriptions": subs,
        "checkins": pd.concat(checkins, ignore_index=True) if checkins else None,
        "truth": truth_frame,
        "extensions": pd.DataFrame(extensions, columns=["account_id", "start_at", "end_at"]),
    }


def routine_touches(
    accounts: pd.DataFrame, subscriptions: pd.DataFrame, months: int, seed: int, end: date
) -> pd.DataFrame:
    """The team's everyday touches: per active account and month a Poisson number of emails,
    in-app messages, calls, webinars, meetings and QBRs (more, and more personal, for larger
    segments). They carry no play and change no outcome."""
    _, until = demo_window(months, end)
    ids = accounts["account_id"].to_numpy()
    n = len(ids)
    segment = accounts["segment"].to_numpy()
    owner = accounts["csm_owner"].to_numpy()
    rate = np.array([ROUTINE_PER_MONTH.get(s, 0.5) for s in segment])
    kind_p = np.array([ROUTINE_KIND_P.get(s, ROUTINE_KIND_P["SMB"]) for s in segment])
    cum = kind_p.cumsum(axis=1)
    parts = []
    for k, as_of in enumerate(_month_starts(months, end)):
        rng = _rng(seed, 7, k)
        count = rng.poisson(rate)
        offsets = rng.random(n)  # one draw per account, spread for its touches below
        active = _active_at(ids, subscriptions, as_of)
        who = np.repeat(np.flatnonzero(active), count[active])
        if not len(who):
            continue
        month_end = min(as_of + pd.offsets.MonthBegin(1), until)
        span = (month_end - as_of) / pd.Timedelta(seconds=1)
        touch_rng = _rng(seed, 8, k)
        u = (offsets[who] + touch_rng.random(len(who))) % 1.0
        pick = touch_rng.random(len(who))
        kind_idx = (pick[:, None] > cum[who]).sum(axis=1).clip(0, len(ROUTINE_KINDS) - 1)
        parts.append(
            pd.DataFrame(
                {
                    "account_id": ids[who],
                    "occurred_at": as_of + pd.to_timedelta(np.floor(u * span), unit="s"),
                    "kind": np.asarray(ROUTINE_KINDS)[kind_idx],
                    "owner": owner[who],
                    "play": None,
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["account_id", "occurred_at", "kind", "owner", "play"])
    return pd.concat(parts, ignore_index=True)


def activity_log(
    accounts: pd.DataFrame,
    latent: pd.DataFrame,
    subscriptions: pd.DataFrame,
    months: int,
    seed: int,
    end: date,
) -> dict[str, pd.DataFrame]:
    """The program applied to the simulated contracts, and the whole activity log.

    Returns ``subscriptions`` (after the program), ``cs_activities``, ``demo_play_truth`` and
    ``extensions``.
    """
    played = apply_plays(accounts, latent, subscriptions, months, seed, end)
    routine = routine_touches(accounts, played["subscriptions"], months, seed, end)
    log = pd.concat([p for p in (routine, played["checkins"]) if p is not None])
    log = log.sort_values(["occurred_at", "account_id"], kind="stable").reset_index(drop=True)
    for column in ("account_id", "kind", "owner", "play"):
        log[column] = log[column].astype("str").where(log[column].notna())
    log["occurred_at"] = log["occurred_at"].astype("datetime64[us]")
    truth = played["truth"]
    for column in ("as_of", "play_due", "checkin_at"):
        truth[column] = pd.to_datetime(truth[column]).astype("datetime64[us]")
    return {
        "subscriptions": played["subscriptions"],
        "cs_activities": log,
        "demo_play_truth": truth,
        "extensions": played["extensions"],
    }


# The other tables' generators run again, on their own streams, for the contract time a
# prevention added (a seed no user seed reaches), so every other account keeps its rows.
EXTENSION_SEED_OFFSET = 2**32


def extension_seed(seed: int) -> int:
    return seed + EXTENSION_SEED_OFFSET


def extension_subscriptions(simulated: pd.DataFrame, extensions: pd.DataFrame) -> pd.DataFrame:
    """The contract time preventions added, as subscription rows of the row each one extended
    (plan, seats, MRR unchanged), for generating usage, tickets and NPS in that time."""
    if extensions.empty:
        return simulated.iloc[:0].copy()
    ext = extensions.sort_values("start_at").rename(
        columns={"start_at": "ext_start", "end_at": "ext_end"}
    )
    base = simulated.sort_values("start_at")
    rows = pd.merge_asof(
        ext,
        base,
        left_on="ext_start",
        right_on="start_at",
        by="account_id",
        direction="backward",
        allow_exact_matches=False,
    )
    rows["subscription_id"] = (
        rows["subscription_id"]
        + "-r"
        + rows.groupby("subscription_id").cumcount().add(1).astype("str")
    )
    rows["start_at"] = rows["ext_start"].astype("datetime64[us]")
    rows["end_at"] = rows["ext_end"].astype("datetime64[us]")
    return (
        rows[list(simulated.columns)].sort_values(["account_id", "start_at"]).reset_index(drop=True)
    )
