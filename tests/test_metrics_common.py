"""Common invariance checks run over every array metric (scikit-learn's test_common
pattern): input order does not matter; a list, a numpy array and a pandas Series give
the same answer; results stay within their documented bounds; inputs are not modified."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess.errors import ValidationError
from custsuccess.metrics import (
    arpa,
    average_time_on_site,
    cart_adds_per_customer,
    email_rates,
    first_response_times,
    nps,
    pages_per_visit,
    referral_rate,
    repeat_purchase_rate,
    stickiness,
)


@attrs.frozen
class Case:
    """An array metric: ``call(*arrays)``, how to draw aligned arrays, and its bounds."""

    name: str
    call: Callable[..., Any]
    arrays: st.SearchStrategy[tuple[list[Any], ...]]
    bounds: tuple[float, float] | None
    value: Callable[[Any], float] = float
    n_args: int = 1


def aligned(
    n_arrays: int, element: st.SearchStrategy[Any]
) -> st.SearchStrategy[tuple[list[Any], ...]]:
    return st.integers(0, 30).flatmap(
        lambda n: st.tuples(*[st.lists(element, min_size=n, max_size=n) for _ in range(n_arrays)])
    )


counts = st.integers(0, 20)
money = st.floats(0, 10_000, allow_nan=False, allow_infinity=False)

CASES = [
    Case("nps", nps, aligned(1, st.integers(0, 10)), (-100, 100), lambda r: r.score),
    Case("arpa", arpa, aligned(1, money), (0, 10_000)),
    Case("arpa_include_zero", lambda m: arpa(m, include_zero=True), aligned(1, money), (0, 10_000)),
    Case("average_time_on_site", average_time_on_site, aligned(1, money), (0, 10_000)),
    Case("cart_adds_per_customer", cart_adds_per_customer, aligned(1, counts), (0, 20)),
    Case("repeat_purchase_rate", repeat_purchase_rate, aligned(1, counts), (0, 1)),
    Case("referral_rate", referral_rate, aligned(1, counts), (0, 1)),
    Case("pages_per_visit", pages_per_visit, aligned(2, st.integers(1, 20)), (0, 20), n_args=2),
    Case("stickiness", lambda d: stickiness(d, 20), aligned(1, counts), (0, 1)),
    Case(
        "email_open_rate",
        lambda s, o: email_rates(np.asarray(s) + np.asarray(o), o, o),
        aligned(2, counts),
        (0, 1),
        lambda r: r.open_rate,
        n_args=2,
    ),
]


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_order_containers_and_bounds(case: Case, data: st.DataObject) -> None:
    arrays = data.draw(case.arrays)
    base = case.value(case.call(*arrays))
    # 1. order does not matter (one permutation for all aligned arrays)
    n = len(arrays[0])
    perm = data.draw(st.permutations(list(range(n))))
    shuffled = [[a[i] for i in perm] for a in arrays]
    assert _same(case.value(case.call(*shuffled)), base)
    # 2. list / numpy array / pandas Series give the same answer
    as_arrays = [np.asarray(a) for a in arrays]
    as_series = [
        pd.Series(a, index=np.arange(n)[::-1], dtype=float) for a in arrays
    ]
    assert _same(case.value(case.call(*as_arrays)), base)
    assert _same(case.value(case.call(*as_series)), base)
    # 3. bounds hold (NaN only for "no observation", which the metric documents)
    if case.bounds is not None and not math.isnan(base):
        lo, hi = case.bounds
        assert lo - 1e-9 <= base <= hi + 1e-9
    # 4. inputs are not modified
    for before, after in zip(arrays, as_arrays, strict=True):
        assert np.asarray(before).tolist() == after.tolist()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rejects_two_dimensional_and_non_numeric(case: Case) -> None:
    n_args = case.n_args
    bad_2d = [[[1, 2], [3, 4]]] * n_args
    with pytest.raises(ValidationError):
        case.call(*bad_2d)
    with pytest.raises(ValidationError):
        case.call(*([["a", "b"]] * n_args))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rejects_nan_naming_position(case: Case) -> None:
    n_args = case.n_args
    with pytest.raises(ValidationError, match="position 1"):
        case.call(*([[1.0, float("nan"), 2.0]] * n_args))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 1000), st.booleans()), max_size=25),
    st.randoms(),
)
def test_first_response_times_order_invariant(rows: list[tuple[int, int, bool]], rnd: Any) -> None:
    base = np.datetime64("2024-01-01T00:00:00", "us")
    req = [(k, base + np.timedelta64(s, "s")) for k, s, is_req in rows if is_req]
    rep = [(k, base + np.timedelta64(s, "s")) for k, s, is_req in rows if not is_req]
    out = first_response_times(
        [k for k, _ in req],
        np.array([w for _, w in req], "datetime64[us]"),
        [k for k, _ in rep],
        np.array([w for _, w in rep], "datetime64[us]"),
    )
    # independent reference: the earliest reply of the ticket at or after the request
    for (k, w), got in zip(req, out, strict=True):
        later = [r for kk, r in rep if kk == k and r >= w]
        if later:
            assert got == (min(later) - w) / np.timedelta64(1, "s")
        else:
            assert math.isnan(got)
    order = list(range(len(rep)))
    rnd.shuffle(order)
    again = first_response_times(
        pd.Series([k for k, _ in req], dtype=object),
        np.array([w for _, w in req], "datetime64[us]"),
        [rep[i][0] for i in order],
        np.array([rep[i][1] for i in order], "datetime64[us]"),
    )
    assert np.array_equal(out, again, equal_nan=True)
    assert np.all(np.isnan(out) | (out >= 0))
