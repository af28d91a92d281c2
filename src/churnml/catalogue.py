"""The feature catalogue: every feature's family, meaning, unit and the sentence a CSM reads.

Names are generated from windows and data (event types, ticket categories), so the catalogue
describes features by pattern. Templates take ``{value}`` (the account's value) and, where a
feature has a "before" counterpart, ``{previous}``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    family: str
    description: str
    unit: str
    template_en: str
    template_ja: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


FAMILY_LABELS = {
    "usage": ("product usage", "製品の利用状況"),
    "support": ("support experience", "サポート対応"),
    "contract": ("contract and billing", "契約・請求"),
    "nps": ("survey sentiment (NPS)", "NPS（顧客推奨度）"),
    "account": ("account profile", "アカウント属性"),
    "activity": ("CS touches", "CSの接点"),
}

# (pattern, family, description, unit, english template, japanese template)
_PATTERNS: list[tuple[str, str, str, str, str, str]] = [
    (
        r"usage_events_(\d+)d",
        "usage",
        "product events in the last {0} days",
        "events",
        "{value:.0f} product events in the last {0} days",
        "直近{0}日間の利用イベントは{value:.0f}件",
    ),
    (
        r"usage_quantity_(\d+)d",
        "usage",
        "usage volume (minutes, rows, ...) in the last {0} days",
        "units",
        "Usage volume of {value:.0f} in the last {0} days",
        "直近{0}日間の利用量は{value:.0f}",
    ),
    (
        r"usage_active_days_(\d+)d",
        "usage",
        "days with any activity in the last {0} days",
        "days",
        "Active on {value:.0f} of the last {0} days",
        "直近{0}日間のうち利用があったのは{value:.0f}日",
    ),
    (
        r"usage_feature_breadth_(\d+)d",
        "usage",
        "distinct tracked event types (the most common, up to 25) used in the last {0} days",
        "features",
        "Used {value:.0f} different features in the last {0} days",
        "直近{0}日間に使われた機能は{value:.0f}種類",
    ),
    (
        r"usage_active_users_(\d+)d",
        "usage",
        "distinct active users in the last {0} days",
        "users",
        "{value:.0f} active users in the last {0} days",
        "直近{0}日間のアクティブユーザーは{value:.0f}人",
    ),
    (
        r"usage_active_users_per_seat",
        "usage",
        "active users in the trend window per paid seat",
        "ratio",
        "{value:.0%} of paid seats are in active use",
        "契約シートの{value:.0%}が利用されています",
    ),
    (
        r"usage_trend_ratio",
        "usage",
        "events in the recent window versus the one before (1 = flat)",
        "ratio",
        "Usage is at {value:.0%} of the previous period",
        "利用量は前期間の{value:.0%}です",
    ),
    (
        r"usage_events_prev_period",
        "usage",
        "events in the window before the recent one",
        "events",
        "{value:.0f} events in the period before",
        "前期間の利用イベントは{value:.0f}件",
    ),
    (
        r"usage_days_since_last_activity",
        "usage",
        "days since the last product activity",
        "days",
        "Last product activity {value:.0f} days ago",
        "最後の利用は{value:.0f}日前",
    ),
    (
        r"usage_onboarding_milestones",
        "usage",
        "onboarding milestones reached so far",
        "milestones",
        "{value:.0f} onboarding milestones reached",
        "オンボーディングの達成項目は{value:.0f}個",
    ),
    (
        r"usage_events_per_active_day_(\d+)d",
        "usage",
        "events per active day in the last {0} days (how intensely, not how often)",
        "events/day",
        "{value:.1f} events per active day in the last {0} days",
        "直近{0}日間の利用日あたりのイベントは{value:.1f}件",
    ),
    (
        r"usage_events_per_active_user_(\d+)d",
        "usage",
        "events per active user in the last {0} days",
        "events/user",
        "{value:.1f} events per active user in the last {0} days",
        "直近{0}日間のアクティブユーザー1人あたりのイベントは{value:.1f}件",
    ),
    (
        r"usage_events_lifetime",
        "usage",
        "product events logged before the as-of, over the account's whole history",
        "events",
        "{value:,.0f} product events since the account started",
        "利用開始以来の利用イベントは{value:,.0f}件",
    ),
    (
        r"usage_active_days_lifetime",
        "usage",
        "days with any activity logged before the as-of, over the account's whole history",
        "days",
        "Active on {value:,.0f} days since the account started",
        "利用開始以来の利用日数は{value:,.0f}日",
    ),
    (
        r"usage_events_per_month",
        "usage",
        "lifetime product events per month as a customer",
        "events/month",
        "{value:,.0f} product events per month as a customer",
        "契約期間1か月あたりの利用イベントは{value:,.0f}件",
    ),
    (
        r"usage_active_days_per_month",
        "usage",
        "lifetime active days per month as a customer",
        "days/month",
        "Active on {value:.1f} days a month as a customer",
        "契約期間1か月あたりの利用日数は{value:.1f}日",
    ),
    (
        r"usage_(.+)_lifetime",
        "usage",
        "'{0}' events logged before the as-of, over the account's whole history",
        "events",
        "{value:,.0f} '{0}' events since the account started",
        "利用開始以来の「{0}」は{value:,.0f}件",
    ),
    (
        r"usage_(.+)_trend_ratio",
        "usage",
        "'{0}' events in the recent window versus the one before (1 = flat)",
        "ratio",
        "'{0}' events are at {value:.0%} of the previous period",
        "「{0}」は前期間の{value:.0%}です",
    ),
    (
        r"usage_(.+)_(\d+)d",
        "usage",
        "'{0}' events in the last {1} days",
        "events",
        "{value:.0f} '{0}' events in the last {1} days",
        "直近{1}日間の「{0}」は{value:.0f}件",
    ),
    (
        r"support_tickets_(\d+)d_prev_period",
        "support",
        "tickets opened in the {0} days before the recent window",
        "tickets",
        "{value:.0f} tickets in the period before",
        "前期間のチケットは{value:.0f}件",
    ),
    (
        r"support_tickets_(\d+)d",
        "support",
        "tickets opened in the last {0} days",
        "tickets",
        "{value:.0f} support tickets in the last {0} days",
        "直近{0}日間の問い合わせは{value:.0f}件",
    ),
    (
        r"support_high_priority_tickets_(\d+)d",
        "support",
        "high or urgent tickets opened in the last {0} days",
        "tickets",
        "{value:.0f} high-priority tickets in the last {0} days",
        "直近{0}日間の優先度「高」以上の問い合わせは{value:.0f}件",
    ),
    (
        r"support_open_tickets",
        "support",
        "tickets open at the as-of date",
        "tickets",
        "{value:.0f} tickets still open",
        "未解決の問い合わせが{value:.0f}件",
    ),
    (
        r"support_open_high_priority_tickets",
        "support",
        "high or urgent tickets open at the as-of date",
        "tickets",
        "{value:.0f} high-priority tickets still open",
        "優先度「高」以上の未解決チケットが{value:.0f}件",
    ),
    (
        r"support_oldest_open_ticket_days",
        "support",
        "age of the oldest open ticket",
        "days",
        "The oldest open ticket has waited {value:.0f} days",
        "最も古い未解決チケットは{value:.0f}日経過",
    ),
    (
        r"support_unanswered_tickets",
        "support",
        "open tickets with no first response yet",
        "tickets",
        "{value:.0f} open tickets have had no response",
        "未回答の問い合わせが{value:.0f}件",
    ),
    (
        r"support_first_response_hours_(\d+)d",
        "support",
        "mean hours to first response, tickets of the last {0} days",
        "hours",
        "First responses took {value:.0f} hours on average",
        "初回回答まで平均{value:.0f}時間",
    ),
    (
        r"support_resolution_hours_(\d+)d",
        "support",
        "mean hours to resolve tickets closed in the last {0} days",
        "hours",
        "Tickets took {value:.0f} hours to resolve on average",
        "解決まで平均{value:.0f}時間",
    ),
    (
        r"support_escalations_(\d+)d",
        "support",
        "escalated tickets closed in the last {0} days",
        "tickets",
        "{value:.0f} escalated tickets in the last {0} days",
        "直近{0}日間のエスカレーションは{value:.0f}件",
    ),
    (
        r"support_satisfaction_(\d+)d",
        "support",
        "mean CSAT (1-5) of tickets closed in the last {0} days",
        "score 1-5",
        "Support satisfaction averaged {value:.1f} / 5",
        "サポート満足度は平均{value:.1f}/5",
    ),
    (
        r"support_(.+)_tickets_(\d+)d",
        "support",
        "'{0}' tickets opened in the last {1} days",
        "tickets",
        "{value:.0f} '{0}' tickets in the last {1} days",
        "直近{1}日間の「{0}」の問い合わせは{value:.0f}件",
    ),
    (
        r"contract_mrr",
        "contract",
        "monthly recurring revenue at the as-of",
        "currency/month",
        "MRR is {value:,.0f}",
        "MRRは{value:,.0f}",
    ),
    (
        r"contract_arr",
        "contract",
        "annual recurring revenue (12 x MRR)",
        "currency/year",
        "ARR is {value:,.0f}",
        "ARRは{value:,.0f}",
    ),
    (
        r"contract_plan",
        "contract",
        "plan label at the as-of (the model uses its rank)",
        "label",
        "On the {value} plan",
        "{value}プラン",
    ),
    (
        r"contract_seats",
        "contract",
        "paid seats",
        "seats",
        "{value:.0f} paid seats",
        "契約シート数は{value:.0f}",
    ),
    (
        r"contract_mrr_per_seat",
        "contract",
        "MRR divided by paid seats (price per seat)",
        "currency/seat/month",
        "MRR per seat is {value:,.1f}",
        "シートあたりのMRRは{value:,.1f}",
    ),
    (
        r"contract_plan_rank",
        "contract",
        "position of the plan in the plan ladder",
        "rank",
        "Plan level {value:.0f}",
        "プランのランクは{value:.0f}",
    ),
    (
        r"contract_is_annual",
        "contract",
        "1 when a live contract is billed a year (or longer) at a time",
        "flag",
        "Billed {value:annual}",
        "請求は{value:annual_ja}",
    ),
    (
        r"contract_billing_months",
        "contract",
        "longest billing period of the live contract, in months",
        "months",
        "Billed {value:period}",
        "請求周期は{value:period_ja}",
    ),
    (
        r"contract_days_to_renewal",
        "contract",
        "days until the next renewal date",
        "days",
        "Renewal in {value:.0f} days",
        "更新まで{value:.0f}日",
    ),
    (
        r"contract_current_period_days",
        "contract",
        "days since the current contract row started",
        "days",
        "Current contract terms for {value:.0f} days",
        "現在の契約条件になって{value:.0f}日",
    ),
    (
        r"contract_tenure_days",
        "contract",
        "days as a customer",
        "days",
        "Customer for {value:.0f} days",
        "契約期間は{value:.0f}日",
    ),
    (
        r"contract_mrr_change_90d",
        "contract",
        "MRR change over the last 90 days",
        "currency/month",
        "MRR changed by {value:+,.0f} in 90 days",
        "90日間でMRRが{value:+,.0f}変化",
    ),
    (
        r"contract_mrr_change_ratio_90d",
        "contract",
        "MRR now divided by MRR 90 days ago",
        "ratio",
        "MRR is at {value:.0%} of 90 days ago",
        "MRRは90日前の{value:.0%}",
    ),
    (
        r"contract_downgrades_180d",
        "contract",
        "downgrades in the last 180 days",
        "changes",
        "{value:.0f} downgrades in the last 180 days",
        "直近180日間のダウングレードは{value:.0f}回",
    ),
    (
        r"contract_upgrades_180d",
        "contract",
        "upgrades in the last 180 days",
        "changes",
        "{value:.0f} upgrades in the last 180 days",
        "直近180日間のアップグレードは{value:.0f}回",
    ),
    (
        r"nps_last_score",
        "nps",
        "last NPS answer (0-10)",
        "score 0-10",
        "Last NPS answer was {value:.0f}",
        "直近のNPS回答は{value:.0f}",
    ),
    (
        r"nps_score_change",
        "nps",
        "last NPS answer minus the one before",
        "points",
        "NPS moved {value:+.0f} points since the previous answer",
        "NPSは前回から{value:+.0f}ポイント変化",
    ),
    (
        r"nps_responses",
        "nps",
        "NPS answers so far",
        "answers",
        "{value:.0f} NPS answers",
        "NPS回答は{value:.0f}件",
    ),
    (
        r"nps_days_since_response",
        "nps",
        "days since the last NPS answer",
        "days",
        "Last NPS answer {value:.0f} days ago",
        "最後のNPS回答は{value:.0f}日前",
    ),
    (
        r"nps_is_detractor",
        "nps",
        "1 when the last NPS answer was 0-6",
        "flag",
        "Last NPS answer {value:detractor}",
        "直近のNPS回答は{value:detractor_ja}",
    ),
    (
        r"activity_touches_(\d+)d",
        "activity",
        "CS activities of any kind (calls, emails, meetings, in-app, ...) in the last {0} days",
        "touches",
        "{value:.0f} CS touches in the last {0} days",
        "直近{0}日間のCSの接点は{value:.0f}件",
    ),
    (
        r"activity_human_touches_(\d+)d",
        "activity",
        "human CS touches (activity.human_kinds, e.g. calls, meetings) in the last {0} days",
        "touches",
        "{value:.0f} personal CS touches in the last {0} days",
        "直近{0}日間の担当者による接点は{value:.0f}件",
    ),
    (
        r"activity_days_since_human_touch",
        "activity",
        "days since the last human CS touch (365 = none in the last year)",
        "days",
        "Last personal CS touch {value:.0f} days ago",
        "担当者による最後の接点は{value:.0f}日前",
    ),
    (
        r"attr_(.+)",
        "account",
        "declared account attribute '{0}'",
        "value",
        "{0}: {value}",
        "{0}: {value}",
    ),
]
_COMPILED = [(re.compile(f"^{p}$"), rest) for p, *rest in _PATTERNS]


@lru_cache(maxsize=8192)
def feature_entry(name: str) -> CatalogueEntry:
    """The catalogue entry of a feature name; unknown names get a neutral entry."""
    for regex, (family, description, unit, en, ja) in _COMPILED:
        m = regex.match(name)
        if m:
            args = [g.replace("_", " ") for g in m.groups()]

            def fill(template: str, args: list[str] = args) -> str:
                return re.sub(r"\{(\d)\}", lambda hit, a=args: a[int(hit.group(1))], template)

            return CatalogueEntry(name, family, fill(description), unit, fill(en), fill(ja))
    return CatalogueEntry(
        name, "account", name.replace("_", " "), "value", f"{name}: {{value}}", f"{name}: {{value}}"
    )


def catalogue(features: list[str]) -> list[dict[str, str]]:
    return [feature_entry(f).to_dict() for f in features]


def family_of(name: str) -> str:
    return feature_entry(name).family


def sentence(name: str, value: object, lang: str = "en") -> str:
    """The CSM sentence of one feature at the account's value."""
    entry = feature_entry(name)
    template = entry.template_ja if lang == "ja" else entry.template_en
    return _format(template, value, lang)


_PERIOD_NAMES = {
    1: ("monthly", "月払い"),
    3: ("quarterly", "四半期払い"),
    12: ("annually", "年払い"),
}


def _period_text(value: object, lang: str) -> str:
    """A billing period in months as words: monthly, every 6 months, every 182 days."""
    ja = lang == "ja"
    if value is None or value != value:
        return "不明" if ja else "unknown"
    months = float(value)
    if abs(months - round(months)) < 0.01 and round(months) >= 1:
        whole = round(months)
        if whole in _PERIOD_NAMES:
            return _PERIOD_NAMES[whole][1 if ja else 0]
        return f"{whole}か月ごと" if ja else f"every {whole} months"
    days = months * 365.25 / 12
    return f"{days:.0f}日ごと" if ja else f"every {days:.0f} days"


def _format(template: str, value: object, lang: str) -> str:
    special = {
        "{value:annual}": lambda v: (
            "annually (or longer)" if v and float(v) >= 1 else "more often than yearly"
        ),
        "{value:annual_ja}": lambda v: (
            "年払い（以上）" if v and float(v) >= 1 else "1年未満の周期ごと"
        ),
        "{value:period}": lambda v: _period_text(v, "en"),
        "{value:period_ja}": lambda v: _period_text(v, "ja"),
        "{value:detractor}": lambda v: (
            "was a detractor (0-6)" if v and float(v) >= 1 else "was not a detractor"
        ),
        "{value:detractor_ja}": lambda v: (
            "批判者（0〜6）でした" if v and float(v) >= 1 else "批判者ではありません"
        ),
    }
    for token, fn in special.items():
        if token in template:
            return template.replace(token, fn(value))
    if value is None or (isinstance(value, float) and value != value):
        missing = "不明" if lang == "ja" else "unknown"
        return re.sub(r"\{value[^}]*\}", missing, template)
    if lang != "ja" and _is_one(value):
        template = _ONE_THING.sub(_singular, template, count=1)
    try:
        return template.format(value=value)
    except (ValueError, TypeError):
        return re.sub(r"\{value[^}]*\}", str(value), template)


# "{value:.0f} high-priority tickets", "Renewal in {value:.0f} days": the counted noun after the
# number, past the words that qualify it, so that 1 reads "1 day", "1 ticket".
_ONE_THING = re.compile(
    r"(\{value:\.0f\} (?:(?:'[^']*'|high-priority|support|product|active|paid|open|escalated|"
    r"onboarding|NPS|CS|personal|different) )*)(day|hour|event|ticket|user|feature|seat|"
    r"milestone|downgrade|upgrade|answer|touche)s\b"
)


def _singular(match: re.Match) -> str:
    noun = match.group(2)
    return match.group(1) + ("touch" if noun == "touche" else noun)


def _is_one(value: object) -> bool:
    try:
        return f"{float(value):.0f}" == "1"
    except (TypeError, ValueError):
        return False
