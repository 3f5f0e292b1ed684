"""Support and surveys: any channel name with configurable targets, resolution time and
reopen rate, CSAT and CES (metrics and rules), NPS migration after a support contact."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from custsuccess import Customer, Dataset, Event, Registry, ValidationError
from custsuccess.health import HealthModel
from custsuccess.health.rules import SupportResponsivenessRule
from custsuccess.health.service_rules import CesRule, CsatRule
from custsuccess.metrics import compute
from custsuccess.metrics.service import ces, csat, nps_migration, resolution_times
from custsuccess.metrics.support import support_response_times

UTC = timezone.utc
T = datetime(2024, 3, 4, 9, tzinfo=UTC)  # a Monday


def at(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def req(c: str, hours: float, ticket: str, channel: str) -> Event:
    return Event(c, "support_request", at(hours), properties={"channel": channel,
                                                               "ticket": ticket})


def reply(c: str, hours: float, ticket: str, channel: str) -> Event:
    return Event(c, "support_reply", at(hours), properties={"channel": channel,
                                                             "ticket": ticket})


def resolved(c: str, hours: float, ticket: str) -> Event:
    return Event(c, "support_resolved", at(hours), properties={"ticket": ticket})


def test_any_channel_name_is_accepted_with_a_host_target() -> None:
    ds = Dataset.from_records([Customer("a", T)], events=[
        req("a", 0, "s1", "sms"), reply("a", 0.5, "s1", "sms"),        # 30 minutes
        req("a", 1, "s2", "sms"), reply("a", 3, "s2", "sms"),          # 2 hours
        req("a", 2, "p1", "in_person"), reply("a", 2.1, "p1", "in_person"),
        req("a", 4, "c1", "chat"), reply("a", 4 + 0.5 / 60, "c1", "chat"),
    ])
    r = support_response_times(ds, targets={"sms": timedelta(hours=1)})
    assert r.channels == ("phone", "email", "chat", "social", "in_person", "sms")
    frame = r.to_pandas()
    assert frame.loc["sms", "requests"] == 2
    assert frame.loc["sms", "within_target"] == 0.5
    assert frame.loc["sms", "mean_s"] == pytest.approx((1800 + 7200) / 2)
    assert math.isnan(frame.loc["in_person", "within_target"])  # no target given
    assert frame.loc["chat", "within_target"] == 1.0  # the texts' default, 1 minute
    assert frame.loc["sms", "target"] == "1 h"


def test_the_rule_scores_other_channels_only_with_a_target() -> None:
    events = [req("a", 0, "s1", "sms"), reply("a", 0.5, "s1", "sms"),
              req("b", 0, "s2", "sms"), reply("b", 13, "s2", "sms")]
    ds = Dataset.from_records([Customer("a", T), Customer("b", T)], events=events)
    t = np.datetime64("2024-03-06T00:00:00", "us")
    plain = SupportResponsivenessRule().evaluate(ds.until(t), t)
    assert np.isnan(plain.score).all()  # no target for sms: not judged, never a NaN mean
    rule = SupportResponsivenessRule(channel_targets={"sms": (60, 1440)})
    got = rule.evaluate(ds.until(t), t)
    # a: 30 min <= 60 target -> 100; b: 780 min -> 100 x (1440 - 780) / (1440 - 60)
    assert got.score.tolist() == pytest.approx([100.0, 100 * 660 / 1380])
    config = HealthModel([rule]).to_config()
    back = HealthModel.from_config(
        {"rules": {"support.responsiveness": config["rules"]["support.responsiveness"]}},
        registry=Registry(entry_points=False))
    assert back.rules[back.rule_names.index("support.responsiveness")] == rule


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ({"phone": (1, 2)}, r"a name other than the built-in"),
        ({"sms": (60, 30)}, r"need 0 < target < limit, got \(60, 30\)"),
        ({"sms": 60}, r"must be \(target minutes, limit minutes\)"),
        (5, r"must map a channel name to"),
    ],
)
def test_bad_channel_targets_are_named(targets: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SupportResponsivenessRule(channel_targets=targets)


def test_a_blank_channel_is_still_rejected() -> None:
    with pytest.raises(ValidationError, match=r"properties\['channel'\] is required"):
        Event("a", "support_request", T, properties={"channel": " ", "ticket": "t"})


def test_resolution_time_and_reopen_rate_by_hand() -> None:
    ds = Dataset.from_records([Customer("a", T), Customer("b", T)], events=[
        req("a", 0, "t1", "email"), resolved("a", 10, "t1"),      # 10 h
        req("a", 20, "t1", "email"), resolved("a", 30, "t1"),     # reopened
        req("a", 1, "t2", "email"), resolved("a", 2, "t2"),       # 1 h
        req("b", 0, "t1", "email"),                               # never resolved
        req("b", 5, "t9", "phone"), resolved("b", 5.5, "t9"),     # 0.5 h
        resolved("b", 1, "orphan"),                               # no request: no ticket
    ])
    r = resolution_times(ds)
    frame = r.to_pandas()
    assert frame.loc["email", "tickets"] == 3  # (a, t1), (a, t2), (b, t1)
    assert frame.loc["email", "resolved"] == 2
    assert frame.loc["email", "reopened"] == 1
    assert frame.loc["email", "reopen_rate"] == 0.5
    assert frame.loc["email", "mean_h"] == pytest.approx(5.5)
    assert frame.loc["phone", "median_h"] == 0.5
    assert np.isnan(r.hours).sum() == 1
    assert compute("reopen_rate", ds)[1] == 0.5  # type: ignore[index]


def test_a_resolution_without_a_ticket_is_named() -> None:
    ds = Dataset.from_records([Customer("a", T)], events=[
        Event("a", "support_resolved", at(1))])
    with pytest.raises(ValidationError, match=r"support_resolved event of customer 'a'.*ticket"):
        resolution_times(ds)


def test_csat_and_ces_by_hand() -> None:
    ds = Dataset.from_records([Customer("a", T), Customer("b", T)], events=[
        Event("a", "csat_response", at(1), value=5), Event("a", "csat_response", at(2), value=2),
        Event("b", "csat_response", at(1), value=4),
        Event("a", "ces_response", at(1), value=7), Event("b", "ces_response", at(1), value=3),
    ])
    s = csat(ds)
    assert s.n == 3
    assert (s.share_good, s.mean) == pytest.approx((2 / 3, 11 / 3))
    e = ces(ds)
    assert (e.mean, e.share_good, e.counts.tolist()) == (5.0, 0.5, [0, 0, 1, 0, 0, 0, 1])
    t = np.datetime64("2024-03-05T09:00:00", "us")
    # a's latest CSAT is 2 (25), b's 4 (75); CES a 7 (100), b 3 (33.3)
    assert CsatRule().evaluate(ds.until(t), t).score.tolist() == [25.0, 75.0]
    assert CesRule().evaluate(ds.until(t), t).score.tolist() == pytest.approx([100.0, 100 / 3])
    late = np.datetime64("2025-03-05T09:00:00", "us")
    assert np.isnan(CsatRule().evaluate(ds.until(late), late).score).all()  # > 180 days
    later = np.datetime64("2024-03-07T11:00:00", "us")  # 3 days after the answer at 11:00
    assert CsatRule().evaluate(ds.until(later), later).reasons.format(0) == (
        "answered 2 of 5 3 days ago")


def test_survey_answers_out_of_scale_are_named() -> None:
    ds = Dataset.from_records([Customer("a", T)], events=[
        Event("a", "csat_response", at(1), value=6)])
    with pytest.raises(ValidationError, match=r"csat_response of customer 'a'.*from 1 to 5"):
        csat(ds)
    with pytest.raises(ValidationError, match=r"needs a custsuccess Dataset"):
        ces([])  # type: ignore[arg-type]


def test_survey_rules_are_builtin_and_off_by_default() -> None:
    registry = Registry(entry_points=False)
    assert {"survey.csat", "survey.ces"} <= set(registry.health_rules())
    assert "survey.csat" not in HealthModel.default(registry).rule_names


def test_nps_migration_by_hand() -> None:
    def nps(c: str, day: float, v: int) -> Event:
        return Event(c, "nps_response", T + timedelta(days=day), value=v)

    def contact(c: str, day: float) -> Event:
        return Event(c, "support_request", T + timedelta(days=day),
                     properties={"channel": "chat", "ticket": f"{c}{day}"})

    ds = Dataset.from_records([Customer(c, T) for c in "abcde"], events=[
        nps("a", 0, 2), contact("a", 10), nps("a", 30, 8),      # detractor -> passive
        nps("b", 0, 6), contact("b", 10), nps("b", 30, 10),     # detractor -> promoter
        nps("c", 0, 4), contact("c", 10), nps("c", 30, 5),      # detractor -> detractor
        nps("d", 0, 9), contact("d", 10), nps("d", 30, 9),      # promoter -> promoter
        contact("e", 10), nps("e", 30, 9),                      # no answer before: left out
        nps("a", 50, 3), contact("a", 60), nps("a", 100, 9),    # a again: detractor -> prom.
    ])
    m = nps_migration(ds)
    assert m.matrix.tolist() == [[1, 1, 2], [0, 0, 0], [0, 0, 1]]
    assert m.recovery_rate == pytest.approx(3 / 4)
    assert m.n_contacts == 5
    short = nps_migration(ds, within_days=25)  # every after-answer is 20+ days later
    assert short.matrix.tolist() == [[1, 1, 1], [0, 0, 0], [0, 0, 1]]
    with pytest.raises(ValidationError, match=r"within_days must be a whole number > 0"):
        nps_migration(ds, within_days=0)
