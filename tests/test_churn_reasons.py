"""Churn-reason classifiers: each built-in on hand-made accounts, their parameters, the
precedence order, a host's own classifier through a Registry, and misbehaving plugins."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event, PluginError, Subscription, ValidationError
from custsuccess.churn import (
    DisengagedReason,
    DowngradePathReason,
    GivenReason,
    InvoluntaryReason,
    NeverOnboardedReason,
    SupportFrictionReason,
    builtin_classifiers,
    churned_accounts,
    records,
)
from custsuccess.dataset import Categorical
from custsuccess.hookspecs import hookimpl
from custsuccess.plugins import Registry
from custsuccess.typing import ChurnedAccounts, ReasonResult, Reasons, RegisterChurnReason

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
END = 200.0  # every churner below churns at day 200


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def churner(
    cid: str, *, mrr: float = 50.0, reason: str | None = None
) -> tuple[Customer, Subscription]:
    return (
        Customer(cid, T0),
        Subscription(f"s-{cid}", cid, "pro", mrr, "USD", T0, day(END), cancel_reason=reason),
    )


def build(
    ids: list[str],
    events: list[Event],
    extra_subs: list[Subscription] = (),  # type: ignore[assignment]
    reasons: dict[str, str] | None = None,
    replace: dict[str, list[Subscription]] | None = None,
) -> Dataset:
    customers, subs = [], []
    for cid in ids:
        c, s = churner(cid, reason=(reasons or {}).get(cid))
        customers.append(c)
        subs.extend((replace or {}).get(cid, [s]))
    return Dataset.from_records(customers, [*subs, *extra_subs], events)


def classify(clf: Any, ds: Dataset) -> tuple[list[str | None], list[str | None]]:
    churned = churned_accounts(ds, AS_OF)
    result = clf.classify(ds.until(AS_OF), churned)
    labels = result.reason.decode().tolist()
    evidence = [result.evidence.format(i) for i in range(len(churned))]
    return labels, evidence


def feature(cid: str, at: float) -> Event:
    return Event(cid, "feature_used", day(at), properties={"feature": "reports"})


def test_given_uses_the_customers_own_words() -> None:
    ds = build(["a", "b"], [], reasons={"a": "too expensive"})
    labels, evidence = classify(GivenReason(), ds)
    assert labels == ["too expensive", None]
    assert evidence == ["the customer gave the reason 'too expensive' when cancelling", None]


def test_involuntary_counts_payment_failures_in_the_window() -> None:
    ev = [
        Event("a", "payment_failed", day(END - 10)),  # inside 30 days
        Event("b", "payment_failed", day(END - 40)),  # outside
        Event("c", "payment_failed", day(END - 20)),
        Event("c", "payment_failed", day(END - 5)),
        Event("d", "payment_failed", day(END)),  # at the churn itself: inside
    ]
    ds = build(["a", "b", "c", "d"], ev)
    labels, evidence = classify(InvoluntaryReason(), ds)
    assert labels == ["involuntary", None, "involuntary", "involuntary"]
    assert (
        evidence[2]
        == "2 failed payment(s) in the 30 days before churn, the last 5.0 days before it"
    )
    labels, _ = classify(InvoluntaryReason(window_days=45, min_failures=2), ds)
    assert labels == [None, None, "involuntary", None]
    labels, _ = classify(InvoluntaryReason(window_days=45), ds)
    assert labels == ["involuntary"] * 4


def test_never_onboarded_looks_at_the_first_90_days() -> None:
    ev = [feature("a", 30), feature("b", 100), Event("c", "login", day(3))]
    ds = build(["a", "b", "c"], ev)
    labels, evidence = classify(NeverOnboardedReason(), ds)
    assert labels == [None, "never_onboarded", "never_onboarded"]
    assert (
        evidence[1] == "no activation event (feature_used) in the first 90 days of the subscription"
    )
    labels, evidence = classify(
        NeverOnboardedReason(activation_kinds=("feature_used", "login")), ds
    )
    assert labels == [None, "never_onboarded", None]
    labels, evidence = classify(NeverOnboardedReason(onboarding_days=120, min_events=2), ds)
    assert labels == ["never_onboarded"] * 3
    assert evidence[0] == (
        "only 1 activation event(s) (feature_used) in the first 120 days of the subscription"
    )
    # A churn inside onboarding shortens the window to the lifetime.
    short = Dataset.from_records(
        [Customer("x", T0)], [Subscription("sx", "x", "pro", 1.0, "USD", T0, day(40))], []
    )
    _, evidence = classify(NeverOnboardedReason(), short)
    assert evidence == [
        "no activation event (feature_used) in the first 40 days of the subscription"
    ]


def support(cid: str, kind: str, at: float, channel: str, ticket: str) -> Event:
    return Event(cid, kind, day(at), properties={"channel": channel, "ticket": ticket})


def test_support_friction_pairs_requests_with_replies_by_ticket() -> None:
    hour = 1 / 24
    ev = [
        # a: email answered after 30 h (limit 24 h): slow.
        support("a", "support_request", END - 20, "email", "t1"),
        support("a", "support_reply", END - 20 + 30 * hour, "email", "t1"),
        # b: email answered after 2 h; a reply on another ticket does not count.
        support("b", "support_request", END - 20, "email", "t2"),
        support("b", "support_reply", END - 20 + 2 * hour, "email", "t2"),
        support("b", "support_reply", END - 30, "email", "t9"),
        # c: phone answered after 10 minutes (limit 3 minutes): slow.
        support("c", "support_request", END - 10, "phone", "t3"),
        support("c", "support_reply", END - 10 + 10 / 1440, "phone", "t3"),
        # d: never answered.
        support("d", "support_request", END - 5, "chat", "t4"),
        # e: slow, but 120 days before churn: outside the 90-day window.
        support("e", "support_request", END - 120, "email", "t5"),
        # f: a same-moment reply counts as an answer; a reply after churn does not.
        support("f", "support_request", END - 3, "chat", "t6"),
        support("f", "support_reply", END - 3, "chat", "t6"),
        support("g", "support_request", END - 3, "email", "t7"),
        support("g", "support_reply", END + 3, "email", "t7"),
    ]
    ds = build(list("abcdefg"), ev)
    labels, evidence = classify(SupportFrictionReason(), ds)
    assert labels == [
        "support_friction",
        None,
        "support_friction",
        "support_friction",
        None,
        None,
        "support_friction",
    ]
    assert evidence[0] == (
        "1 of 1 support request(s) in the 90 days before churn were answered late or not at "
        "all (longest wait 30.0 h)"
    )
    assert str(evidence[3]).endswith("(longest wait 120.0 h)")  # waited until the churn
    assert str(evidence[6]).endswith("(longest wait 72.0 h)")
    relaxed = SupportFrictionReason(response_hours={"email": 48, "phone": 1, "chat": 1})
    labels, _ = classify(relaxed, ds)
    assert labels == [None, None, None, "support_friction", None, None, "support_friction"]
    labels, _ = classify(SupportFrictionReason(window_days=150, min_slow=1), ds)
    assert labels[4] == "support_friction"


def test_downgrade_path_finds_contraction_before_churn() -> None:
    subs = {
        # a: pro 100 replaced by basic 40 at day 150, then churn: contraction 100 -> 40.
        "a": [
            Subscription("a1", "a", "pro", 100.0, "USD", T0, day(150)),
            Subscription("a2", "a", "basic", 40.0, "USD", day(150), day(END)),
        ],
        # b: upgrade 40 -> 100: no contraction.
        "b": [
            Subscription("b1", "b", "basic", 40.0, "USD", T0, day(150)),
            Subscription("b2", "b", "pro", 100.0, "USD", day(150), day(END)),
        ],
        # c: an add-on of 10 ends at day 100 while the base 50 runs on: 60 -> 50.
        "c": [
            Subscription("c1", "c", "pro", 50.0, "USD", T0, day(END)),
            Subscription("c2", "c", "addon", 10.0, "USD", T0, day(100)),
        ],
        # d: contraction 300 days before churn: outside the 180-day window.
        "d": [
            Subscription("d1", "d", "pro", 100.0, "USD", day(-400), day(-100)),
            Subscription("d2", "d", "basic", 50.0, "USD", day(-100), day(END)),
        ],
        # e: a gap (cancel then return at the same price) is churn and reactivation,
        # not contraction.
        "e": [
            Subscription("e1", "e", "pro", 50.0, "USD", T0, day(100)),
            Subscription("e2", "e", "pro", 50.0, "USD", day(120), day(END)),
        ],
    }
    ds = build(list("abcde"), [], replace=subs)
    labels, evidence = classify(DowngradePathReason(), ds)
    assert labels == ["downgrade_path", None, "downgrade_path", None, None]
    assert evidence[0] == "MRR fell from 100.00 to 40.00, 50 days before churn"
    assert evidence[2] == "MRR fell from 60.00 to 50.00, 100 days before churn"
    labels, _ = classify(DowngradePathReason(min_drop=0.5), ds)
    assert labels == ["downgrade_path", None, None, None, None]
    labels, _ = classify(DowngradePathReason(window_days=400), ds)
    assert labels[3] == "downgrade_path"


def test_disengaged_measures_the_gap_before_cancelling() -> None:
    ev = [
        Event("a", "login", day(END - 45)),
        Event("b", "page_view", day(END - 10)),
        Event("b", "webinar", day(END - 1)),
    ]
    ds = build(["a", "b", "c"], ev)
    labels, evidence = classify(DisengagedReason(), ds)
    assert labels == ["disengaged", None, "disengaged"]
    assert evidence[0] == "no activity in the 45 days before cancelling"
    assert (
        evidence[2]
        == "no activity in the 200 days before cancelling (none since the subscription began)"
    )
    labels, _ = classify(DisengagedReason(min_gap_days=5, activity_kinds=("webinar",)), ds)
    assert labels == ["disengaged", None, "disengaged"]


def test_default_precedence_and_fallback() -> None:
    order = [(c.name, c.precedence) for c in builtin_classifiers()]
    assert order == [
        ("given", 10),
        ("involuntary", 20),
        ("never_onboarded", 30),
        ("support_friction", 40),
        ("downgrade_path", 50),
        ("disengaged", 60),
    ]
    ev = [
        Event("a", "payment_failed", day(END - 1)),  # a: reason given AND payment failure
        Event("b", "payment_failed", day(END - 1)),  # b: payment failure, never onboarded
        feature("c", 10),
        feature("d", 10),
        feature("d", END - 1),
    ]
    ds = build(list("abcd"), ev, reasons={"a": "price"})
    recs = records(ds, AS_OF, registry=Registry(entry_points=False))
    assert recs.reason.decode().tolist() == ["price", "involuntary", "disengaged", "unclassified"]
    assert recs.classifier.decode().tolist() == [
        "given",
        "involuntary",
        "disengaged",
        "unclassified",
    ]
    assert recs.evidence.format(3) is None


class Seasonal:
    """A host's classifier: every churn in the holidays is 'seasonal'."""

    name = "host.seasonal"
    description = "churn in December"

    def __init__(self, precedence: int) -> None:
        self.precedence = precedence

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        month = churned.churned_at.astype("datetime64[M]").astype(int) % 12 + 1
        claim = month == 7
        codes = np.where(claim, 0, -1).astype(np.int32)
        return ReasonResult(
            Categorical(codes, ("seasonal",)),
            Reasons(("churned in month {month}",), codes, {"month": month}),
        )


class SeasonalPlugin:
    def __init__(self, precedence: int) -> None:
        self.precedence = precedence

    @hookimpl
    def register_churn_reasons(self, register: RegisterChurnReason) -> None:
        register(Seasonal(self.precedence))


def test_a_host_classifier_with_lower_precedence_wins() -> None:
    # Both churn 2024-07-19; b was onboarded and active until the end.
    ds = build(["a", "b"], [feature("b", 10), feature("b", END - 1)], reasons={"a": "price"})
    first = records(ds, AS_OF, registry=Registry(plugins=[SeasonalPlugin(5)], entry_points=False))
    assert first.reason.decode().tolist() == ["seasonal", "seasonal"]
    assert first.classifier.decode().tolist() == ["host.seasonal"] * 2
    assert first.evidence.format(0) == "churned in month 7"
    last = records(ds, AS_OF, registry=Registry(plugins=[SeasonalPlugin(99)], entry_points=False))
    assert last.reason.decode().tolist() == ["price", "seasonal"]  # only b was left for it
    assert last.classifier.decode().tolist() == ["given", "host.seasonal"]
    direct = records(ds, AS_OF, classifiers=[Seasonal(1), GivenReason()])
    assert direct.classifier.decode().tolist() == ["host.seasonal"] * 2


class Broken:
    name = "host.broken"
    description = "misbehaves"
    precedence = 1

    def __init__(self, result: Any = None, raises: bool = False) -> None:
        self.result = result
        self.raises = raises

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> Any:
        if self.raises:
            raise KeyError("oops")
        return self.result


@pytest.mark.parametrize(
    ("classifier", "message"),
    [
        (
            Broken(raises=True),
            r"'host.broken' \(hook register_churn_reasons\) raised KeyError in classify\(\)",
        ),
        (Broken(result=42), r"'host.broken' .* returned garbage: a int, expected a ReasonResult"),
        (
            Broken(
                result=ReasonResult(Categorical(np.zeros(5, np.int32), ("x",)), Reasons.none(5))
            ),
            r"'host.broken' .* returned garbage: reason.codes has shape \(5,\), expected \(2,\)",
        ),
        (
            Broken(
                result=ReasonResult(
                    Categorical(np.array([0, 3], np.int32), ("x",)), Reasons.none(2)
                )
            ),
            r"'host.broken' .* reason.codes\[1\] = 3 is outside \[-1, 0\]",
        ),
        (
            Broken(
                result=ReasonResult(
                    Categorical(np.zeros(2, np.int32), ("x",)),
                    "why",  # type: ignore[arg-type]
                )
            ),
            r"'host.broken' .* evidence is a str, expected a Reasons",
        ),
    ],
)
def test_a_misbehaving_classifier_is_named(classifier: Broken, message: str) -> None:
    ds = build(["a", "b"], [])
    with pytest.raises(PluginError, match=message) as info:
        records(ds, AS_OF, classifiers=[classifier])
    assert info.value.contribution == "host.broken"
    with pytest.raises(PluginError, match=message):
        records(ds, AS_OF, registry=Registry(plugins=[_plugin_of(classifier)], entry_points=False))


def _plugin_of(classifier: Any) -> object:
    class Plugin:
        @hookimpl
        def register_churn_reasons(self, register: RegisterChurnReason) -> None:
            register(classifier)

    return Plugin()


def test_bad_classifier_lists_and_parameters() -> None:
    ds = build(["a"], [])
    with pytest.raises(
        ValidationError, match=r"the name 'given' is used by classifiers\[0\] and classifiers\[1\]"
    ):
        records(ds, AS_OF, classifiers=[GivenReason(), GivenReason(precedence=3)])
    with pytest.raises(
        PluginError,
        match=r"classifiers\[0\]: churn reason classifier 'given' has precedence = 'high'",
    ):
        records(ds, AS_OF, classifiers=[_Renamed("given", "high")])
    with pytest.raises(PluginError, match=r"invalid name ''"):
        records(ds, AS_OF, classifiers=[_Renamed("", 1)])
    with pytest.raises(
        ValidationError, match=r"InvoluntaryReason.window_days must be a number > 0, got -1"
    ):
        InvoluntaryReason(window_days=-1)
    with pytest.raises(ValidationError, match=r"min_failures must be an integer >= 1, got 0"):
        InvoluntaryReason(min_failures=0)
    with pytest.raises(
        ValidationError, match=r"activation_kinds must name at least one event kind"
    ):
        NeverOnboardedReason(activation_kinds=())
    with pytest.raises(
        ValidationError, match=r"response_hours\['email'\] must be a number of hours >= 0, got -2"
    ):
        SupportFrictionReason(response_hours={"email": -2})
    with pytest.raises(ValidationError, match=r"min_drop must be in \[0, 1\), got 1.5"):
        DowngradePathReason(min_drop=1.5)
    with pytest.raises(ValidationError, match=r"precedence must be an integer, got 1.5"):
        DisengagedReason(precedence=1.5)  # type: ignore[arg-type]


class _Renamed:
    description = "x"

    def __init__(self, name: str, precedence: Any) -> None:
        self.name = name
        self.precedence = precedence

    def classify(self, dataset: Dataset, churned: ChurnedAccounts) -> ReasonResult:
        raise NotImplementedError


def test_builtins_are_registered_through_the_hook() -> None:
    found = Registry(entry_points=False).churn_reasons()
    assert {n: c.plugin for n, c in found.items()} == dict.fromkeys(
        (
            "given",
            "involuntary",
            "never_onboarded",
            "support_friction",
            "downgrade_path",
            "disengaged",
        ),
        "custsuccess.builtins.churn_reasons",
    )
    assert all(c.description for c in found.values())


def test_demo_reasons_are_plausible() -> None:
    from custsuccess.demo import CANCEL_REASONS, generate

    recs = records(
        generate(2000, seed=0), "2026-10-01T00:00:00Z", registry=Registry(entry_points=False)
    )
    classifiers = set(recs.classifier.decode().tolist())
    assert {"given", "involuntary", "never_onboarded", "disengaged"} <= classifiers
    given = recs.classifier.decode() == "given"
    assert set(recs.reason.decode()[given].tolist()) <= set(CANCEL_REASONS)
