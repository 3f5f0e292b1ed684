"""RFM summaries: hand-worked cases, the published CDNOW summary, lifetimes parity, errors."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import Customer, Dataset, Event, ValidationError
from custsuccess.clv import RFMHoldoutSummary, RFMSummary, rfm_from_dataset, rfm_summary

FIXTURES = Path(__file__).parent / "fixtures"


def _lifetimes_importable() -> bool:
    """lifetimes is installed and imports (it is optional: the `bench` extra)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import lifetimes  # noqa: F401
    except Exception:
        return False
    return True


HAS_LIFETIMES = _lifetimes_importable()
needs_lifetimes = pytest.mark.skipif(
    not HAS_LIFETIMES,
    reason="lifetimes is not installed or does not import",
)

IDS = ["a", "a", "a", "a", "b", "c"]
TIMES = np.array(
    [
        "2024-01-01T10:00",
        "2024-01-01T15:00",  # same day as the first: one purchase period of $15
        "2024-01-08T00:00",
        "2024-01-20T09:00",
        "2024-01-03T00:00",
        "2024-01-12T00:00",
    ],
    dtype="datetime64[us]",
)
AMOUNTS = [10.0, 5.0, 7.0, 9.0, 3.0, 4.0]
END = np.datetime64("2024-01-31T12:00")


def test_daily_summary_by_hand() -> None:
    s = rfm_summary(IDS, TIMES, AMOUNTS, END)
    assert isinstance(s, RFMSummary)
    assert s.customer_id.tolist() == ["a", "b", "c"]
    # a: purchase days Jan 1, 8, 20 -> 2 repeats, last 19 days after the first, age 30 days
    assert s.frequency.tolist() == [2.0, 0.0, 0.0]
    assert s.recency.tolist() == [19.0, 0.0, 0.0]
    assert s.T.tolist() == [30.0, 28.0, 19.0]
    assert s.monetary_value is not None
    assert s.monetary_value.tolist() == [8.0, 0.0, 0.0]  # mean of 7 and 9


def test_weekly_hourly_monthly_by_hand() -> None:
    weekly = rfm_summary(IDS, TIMES, AMOUNTS, END, period="W")
    # 2024-01-01 is a Monday: weeks Jan 1, 8, 15 (the 20th), Jan 29 holds the end
    assert weekly.frequency.tolist() == [2.0, 0.0, 0.0]
    assert weekly.recency.tolist() == [2.0, 0.0, 0.0]
    assert weekly.T.tolist() == [4.0, 4.0, 3.0]
    hourly = rfm_summary(IDS, TIMES, AMOUNTS, END, period="h")
    assert hourly.frequency.tolist() == [3.0, 0.0, 0.0]  # 10:00 and 15:00 now differ
    assert hourly.monetary_value is not None
    assert hourly.monetary_value[0] == pytest.approx((5 + 7 + 9) / 3)
    monthly = rfm_summary(IDS, TIMES, AMOUNTS, END, period="M")
    assert monthly.frequency.tolist() == [0.0, 0.0, 0.0]
    assert monthly.T.tolist() == [0.0, 0.0, 0.0]


def test_multiplier_and_first_transaction() -> None:
    s = rfm_summary(IDS, TIMES, AMOUNTS, END, freq_multiplier=7, include_first_transaction=True)
    assert s.frequency.tolist() == [3.0, 1.0, 1.0]
    assert s.recency.tolist() == pytest.approx([19 / 7, 0.0, 0.0])
    assert s.T.tolist() == pytest.approx([30 / 7, 4.0, 19 / 7])
    assert s.monetary_value is not None
    assert s.monetary_value.tolist() == pytest.approx([(15 + 7 + 9) / 3, 3.0, 4.0])


def test_without_amounts_and_late_same_day_purchase() -> None:
    times = np.array(["2024-01-01", "2024-01-31T18:00"], dtype="datetime64[us]")
    s = rfm_summary([1, 1], times, None, END)
    # lifetimes' rule: a purchase later on the day of the end still counts
    assert s.monetary_value is None
    assert s.frequency.tolist() == [1.0]
    assert s.recency.tolist() == [30.0]


def test_calibration_holdout_by_hand() -> None:
    s = rfm_summary(IDS, TIMES, AMOUNTS, END, calibration_end=np.datetime64("2024-01-10"))
    assert isinstance(s, RFMHoldoutSummary)
    assert s.customer_id.tolist() == ["a", "b"]  # c bought only in the holdout
    assert s.frequency.tolist() == [1.0, 0.0]
    assert s.recency.tolist() == [7.0, 0.0]
    assert s.T.tolist() == [9.0, 7.0]
    assert s.monetary_value is not None
    assert s.monetary_value.tolist() == [7.0, 0.0]
    assert s.frequency_holdout.tolist() == [1.0, 0.0]
    assert s.monetary_value_holdout is not None
    assert s.monetary_value_holdout.tolist() == [9.0, 0.0]
    assert s.duration_holdout == 21.0
    df = s.to_pandas()
    assert list(df.columns) == [
        "frequency_cal",
        "recency_cal",
        "T_cal",
        "monetary_value_cal",
        "frequency_holdout",
        "monetary_value_holdout",
        "duration_holdout",
    ]
    repeat = s.repeat_buyers()
    assert repeat.customer_id.tolist() == ["a"]
    assert repeat.frequency_holdout.tolist() == [1.0]


def _cdnow_transactions() -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.datetime64], npt.NDArray[np.float64]
]:
    rows = np.loadtxt(FIXTURES / "cdnow_sample.txt", dtype=str)
    ids = rows[:, 1].astype(np.int64)
    dates = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in rows[:, 2]], dtype="datetime64[us]")
    return ids, dates, rows[:, 4].astype(np.float64)


def _cdnow_published() -> npt.NDArray[np.float64]:
    return np.loadtxt(
        FIXTURES / "cdnow_customers_summary_with_transactions.csv", delimiter=",", skiprows=1
    )


def test_cdnow_reproduces_the_published_summary() -> None:
    ids, dates, amounts = _cdnow_transactions()
    s = rfm_summary(
        ids,
        dates,
        amounts,
        np.datetime64("1998-06-30"),
        calibration_end=np.datetime64("1997-09-30"),
        freq_multiplier=7,
    )
    pub = _cdnow_published()
    assert len(s) == 2357
    assert s.customer_id.tolist() == pub[:, 0].astype(int).tolist()
    np.testing.assert_array_equal(s.frequency, pub[:, 1])
    np.testing.assert_allclose(s.recency, pub[:, 2], atol=0.005 + 1e-9)
    np.testing.assert_allclose(s.T, pub[:, 3], atol=0.005 + 1e-9)
    assert s.monetary_value is not None
    np.testing.assert_allclose(s.monetary_value, pub[:, 4], atol=0.005 + 1e-9)
    assert s.duration_holdout == 39.0  # weeks 40-78


def _lifetimes_frame(ids: Any, times: Any, amounts: Any) -> Any:
    import pandas as pd

    return pd.DataFrame({"id": ids, "date": pd.to_datetime(times), "amount": amounts})


@needs_lifetimes
@pytest.mark.parametrize(("period", "multiplier"), [("D", 1), ("D", 7), ("W", 1), ("h", 24)])
def test_equals_lifetimes_on_cdnow(period: str, multiplier: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes.utils import summary_data_from_transaction_data

        ids, dates, amounts = _cdnow_transactions()
        theirs = summary_data_from_transaction_data(
            _lifetimes_frame(ids, dates, amounts),
            "id",
            "date",
            monetary_value_col="amount",
            observation_period_end="1997-09-30",
            freq=period,
            freq_multiplier=multiplier,
        ).sort_index()
    ours = rfm_summary(
        ids, dates, amounts, np.datetime64("1997-09-30"), period=period, freq_multiplier=multiplier
    )
    assert ours.customer_id.tolist() == theirs.index.tolist()
    np.testing.assert_array_equal(ours.frequency, theirs["frequency"].to_numpy())
    np.testing.assert_allclose(ours.recency, theirs["recency"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.T, theirs["T"].to_numpy(), rtol=1e-12)
    assert ours.monetary_value is not None
    np.testing.assert_allclose(ours.monetary_value, theirs["monetary_value"].to_numpy(), rtol=1e-12)


@needs_lifetimes
def test_calibration_equals_lifetimes_with_intraday_times() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    ids = rng.integers(0, 300, n)
    base = np.datetime64("2023-01-01T00:00", "us")
    times = base + rng.integers(0, 400 * 24 * 60, n).astype("timedelta64[m]")
    amounts = rng.gamma(2.0, 20.0, n).round(2)
    cal, end = "2023-10-15 13:30", "2024-02-01 08:00"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes.utils import calibration_and_holdout_data

        theirs = calibration_and_holdout_data(
            _lifetimes_frame(ids, times, amounts),
            "id",
            "date",
            cal,
            end,
            freq="D",
            monetary_value_col="amount",
        ).sort_index()
    ours = rfm_summary(
        ids,
        times,
        amounts,
        np.datetime64("2024-02-01T08:00"),
        calibration_end=np.datetime64("2023-10-15T13:30"),
    ).to_pandas()
    assert ours.index.tolist() == theirs.index.tolist()
    for column in theirs.columns:
        np.testing.assert_allclose(
            ours[column].to_numpy(), theirs[column].to_numpy(), rtol=1e-12, err_msg=column
        )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 60 * 24 * 30), st.integers(1, 500)),
        min_size=1,
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_permutation_and_single_customer_invariance(
    rows: list[tuple[int, int, int]], rnd: Any
) -> None:
    ids = np.array([r[0] for r in rows])
    times = np.datetime64("2024-01-01", "us") + np.array([r[1] for r in rows]).astype(
        "timedelta64[m]"
    )
    amounts = np.array([float(r[2]) for r in rows])
    end = np.datetime64("2024-02-15")
    full = rfm_summary(ids, times, amounts, end)
    perm = np.arange(len(rows))
    rnd.shuffle(perm)
    shuffled = rfm_summary(ids[perm], times[perm], amounts[perm], end)
    for name in ("customer_id", "frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(getattr(shuffled, name), getattr(full, name), rtol=1e-12)
    # one customer alone gives their row of the batch
    for i, cid in enumerate(full.customer_id.tolist()):
        mine = ids == cid
        one = rfm_summary(ids[mine], times[mine], amounts[mine], end)
        assert one.frequency.tolist() == [full.frequency[i]]
        assert one.recency.tolist() == [full.recency[i]]
        assert one.T.tolist() == [full.T[i]]
    assert (full.recency <= full.T).all()
    assert ((full.frequency > 0) | (full.recency == 0)).all()


def test_from_dataset_matches_rfm_summary() -> None:
    utc = timezone.utc
    t0 = datetime(2024, 1, 1, tzinfo=utc)
    events = [
        Event(cid, "purchase", datetime.fromisoformat(str(t)).replace(tzinfo=utc), value=v)
        for cid, t, v in zip(IDS, TIMES, AMOUNTS, strict=True)
    ]
    events.append(Event("b", "login", t0))
    ds = Dataset.from_records(
        [Customer("a", t0), Customer("b", t0), Customer("c", t0), Customer("d", t0)],
        events=events,
    )
    got = rfm_from_dataset(ds, END)
    want = rfm_summary(IDS, TIMES, AMOUNTS, END)
    assert got.customer_id.tolist() == ["a", "b", "c"]  # d never bought
    for name in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    split = rfm_from_dataset(ds, END, calibration_end=np.datetime64("2024-01-10"))
    assert split.frequency_holdout.tolist() == [1.0, 0.0]
    # a time window applies: until Jan 10 the 20th's purchase does not exist
    early = rfm_from_dataset(ds.until(datetime(2024, 1, 10, tzinfo=utc)), END)
    assert early.frequency.tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"amounts": [1.0, -2.0, 3.0, 4.0, 5.0, 6.0]},
            r"amounts must be finite and >= 0: row 1: -2\.0",
        ),
        ({"amounts": [1.0, 2.0]}, "one value per transaction"),
        ({"period": "Q"}, "period must be one of"),
        ({"freq_multiplier": 0}, "freq_multiplier must be a number > 0"),
        (
            {"calibration_end": np.datetime64("2024-03-01")},
            "calibration_end .* is after observation_end",
        ),
        ({"customer_ids": ["a", None, "a", "a", "b", "c"]}, "customer_ids is missing at row 1"),
        ({"customer_ids": ["a", "b"]}, "same length"),
        (
            {"timestamps": np.array(["2024-01-01", "NaT"] * 3, dtype="datetime64[us]")},
            "missing at row 1",
        ),
        ({"observation_end": "2024-01-31"}, "observation_end must carry a UTC offset"),
    ],
)
def test_errors_name_the_problem(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "customer_ids": IDS,
        "timestamps": TIMES,
        "amounts": AMOUNTS,
        "observation_end": END,
    }
    args.update(kwargs)
    with pytest.raises(ValidationError, match=message):
        rfm_summary(**args)


def test_many_string_ids_equal_integer_ids() -> None:
    # above 50k transactions string ids are encoded through a hash table (pandas)
    rng = np.random.default_rng(3)
    n = 60_000
    numbers = rng.integers(0, 2_000, n)
    times = np.datetime64("2024-01-01", "us") + rng.integers(0, 90 * 86_400, n).astype(
        "timedelta64[s]"
    )
    amounts = rng.random(n)
    strings = np.char.add("c", numbers.astype(str))
    by_str = rfm_summary(strings.astype(object), times, amounts, END)
    by_int = rfm_summary(numbers, times, amounts, END)
    assert by_str.customer_id.tolist() == sorted(by_str.customer_id.tolist())
    position = {f"c{k}": i for i, k in enumerate(by_int.customer_id.tolist())}
    order = [position[c] for c in by_str.customer_id.tolist()]
    for name in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(getattr(by_str, name), getattr(by_int, name)[order], rtol=1e-12)
    holes = strings.astype(object)
    holes[40_000] = None
    with pytest.raises(ValidationError, match="customer_ids is missing at row 40000"):
        rfm_summary(holes, times, amounts, END)


def test_inputs_not_mutated() -> None:
    ids = np.array(["b", "a", "b"])
    times = np.array(["2024-01-05", "2024-01-01", "2024-01-02"], dtype="datetime64[us]")
    amounts = np.array([1.0, 2.0, 3.0])
    copies = (ids.copy(), times.copy(), amounts.copy())
    rfm_summary(ids, times, amounts, END)
    for before, after in zip(copies, (ids, times, amounts), strict=True):
        np.testing.assert_array_equal(before, after)
