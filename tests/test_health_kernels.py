"""The activity kernel against a plain per-event computation of its definition."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Event
from custsuccess.health import _kernels
from custsuccess.health._kernels import DAY_US, NONE_US, activity, shared_cache

UTC = timezone.utc
AS_OF = datetime(2024, 7, 1, 12, tzinfo=UTC)
KINDS = ("login", "page_view", "referral")  # referral is not activity below
ACTIVE = ("login", "page_view")


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    n = draw(st.integers(1, 5))
    customers = [Customer(f"c{i}", AS_OF - timedelta(days=800)) for i in range(n)]
    events = [
        Event(
            f"c{draw(st.integers(0, n - 1))}",
            draw(st.sampled_from(KINDS)),
            # whole days, hours and exact day boundaries; some after as_of
            AS_OF
            - timedelta(days=draw(st.integers(-2, 700)), hours=draw(st.sampled_from([0, 1, 23]))),
        )
        for _ in range(draw(st.integers(0, 60)))
    ]
    return Dataset.from_records(customers, [], events)


def expected(ds: Dataset, now_us: int, width: int) -> tuple[list[int], list[set[int]]]:
    """Last activity and the set of active day slots, one event at a time."""
    ev = ds.events
    last = [NONE_US] * ds.n_customers
    slots: list[set[int]] = [set() for _ in range(ds.n_customers)]
    for c, k, t in zip(ev.customer.tolist(), ev.kind.tolist(), ev.time.view(np.int64).tolist(),
                       strict=True):
        if ev.kinds[k] not in ACTIVE or t > now_us:
            continue
        last[c] = max(last[c], t)
        slot = (now_us - t) // DAY_US  # slot d: (now - (d + 1) days, now - d days]
        if slot < width:
            slots[c].add(slot)
    return last, slots


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), st.sampled_from([1, 30, 64, 65, 128, 365, 700]), st.booleans())
def test_activity_matches_its_definition(ds: Dataset, width: int, combined: bool) -> None:
    view = ds.until(AS_OF)
    now = int(np.datetime64(AS_OF.replace(tzinfo=None), "us").astype(np.int64))
    old = _kernels.COMBINE_KINDS_UP_TO
    try:
        _kernels.COMBINE_KINDS_UP_TO = 1000 if combined else 0  # type: ignore[misc]
        act = activity(view, now, ACTIVE, width)
        with shared_cache():  # the cached path: a wider table, the same answers
            cached = activity(view, now, ACTIVE, width)
    finally:
        _kernels.COMBINE_KINDS_UP_TO = old  # type: ignore[misc]
    last, slots = expected(view, now, width)
    for a in (act, cached):
        assert a.last.tolist() == last
        assert a.width >= width
        for start, stop in ((0, width), (0, min(width, 30)), (width // 3, width)):
            want = [sum(start <= d < stop for d in s) for s in slots]
            assert a.active_days(start, stop).tolist() == want
