"""Text columns are factorised without a Python loop per row, the same with and without
pyarrow, from numpy, lists, pandas (object, string, Arrow-backed) and Arrow columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custsuccess import Dataset, ValidationError
from custsuccess import dataset as dataset_module
from custsuccess.dataset import Categorical, _factorize

# numpy's fixed-width strings cannot hold trailing NUL characters: left out
TEXT = st.one_of(
    st.none(),
    st.just(""),
    st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=4),
)


def _reference(values: list[Any]) -> tuple[list[int], list[str]]:
    """Factorising by hand: distinct non-empty strings sorted, -1 for missing."""
    present = sorted({v for v in values if v})
    return [present.index(v) if v else -1 for v in values], present


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, max_size=30))
def test_factorize_matches_the_definition_with_and_without_arrow(values: list[Any]) -> None:
    codes, uniques = _reference(values)
    column = np.array(values, dtype=object)
    for arrow in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            if not arrow:
                mp.setattr(dataset_module, "_arrow_module", lambda: None)
            got_codes, got_uniques = _factorize(column, "x")
        assert got_codes.tolist() == codes
        assert got_uniques.tolist() == uniques


def test_pandas_columns_of_every_string_dtype() -> None:
    pd = pytest.importorskip("pandas")
    values = ["pro", None, "basic", "pro", ""]
    expected = ([1, -1, 0, 1, -1], ("basic", "pro"))
    dtypes: list[Any] = [object, "string"]
    if pytest.importorskip("pyarrow"):
        dtypes.append("string[pyarrow]")
    for dtype in dtypes:
        encoded = Categorical.encode(pd.Series(values, dtype=dtype), "plan")
        assert (encoded.codes.tolist(), encoded.categories) == expected, dtype
    categorical = Categorical.encode(pd.Series(values, dtype="category"), "plan")
    assert (categorical.codes.tolist(), categorical.categories) == expected


def test_numbers_are_not_quietly_text() -> None:
    for arrow in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            if not arrow:
                mp.setattr(dataset_module, "_arrow_module", lambda: None)
            with pytest.raises(ValidationError, match=r"x must hold strings, got 3 at row 1"):
                _factorize(np.array(["a", 3], dtype=object), "x")


def test_dataframe_builds_the_same_dataset_as_numpy() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    n = 2_000
    ids = np.char.add("c", np.arange(50).astype(str))
    kinds = np.array(["login", "feature_used", "page_view"])
    kind = kinds[rng.integers(0, 3, n)]
    feature = np.where(kind == "feature_used", "reports", "")
    columns = {
        "customer_id": ids[rng.integers(0, 50, n)],
        "kind": kind,
        "occurred_at": np.datetime64("2024-01-01T00:00:00", "us")
        + rng.integers(0, 10**12, n).astype("timedelta64[us]"),
        "feature": feature,
    }
    customers = {"id": ids, "created_at": np.full(50, np.datetime64("2023-01-01", "us"))}
    from_numpy = Dataset.from_columns(customers=customers, events=columns)
    frame = pd.DataFrame({k: v.astype(object) if v.dtype.kind == "U" else v
                          for k, v in columns.items()})
    frame.loc[frame["feature"] == "", "feature"] = None
    for arrow in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            if not arrow:
                mp.setattr(dataset_module, "_arrow_module", lambda: None)
            built = Dataset.from_columns(customers=pd.DataFrame(customers), events=frame)
        assert built.equals(from_numpy)
    assert frame["feature"].isna().sum() == int((feature == "").sum())  # input untouched
