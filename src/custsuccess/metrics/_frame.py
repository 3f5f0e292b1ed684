"""Turning per-period result arrays into a pandas DataFrame, importing pandas lazily."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["to_frame"]


def to_frame(columns: Mapping[Any, Any], index: Sequence[str], index_name: str) -> Any:
    """A ``pandas.DataFrame`` of ``columns`` indexed by ``index`` (needs pandas)."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on the environment
        from custsuccess.errors import CustSuccessError

        raise CustSuccessError(
            "to_frame() needs pandas: pip install 'custsuccess[pandas]'"
        ) from None
    return pd.DataFrame(dict(columns), index=pd.Index(list(index), name=index_name))
