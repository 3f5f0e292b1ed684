"""Up-front input checks shared by the metric functions (scikit-learn's ``check_array`` role).

Every check raises :class:`~custsuccess.errors.ValidationError` whose message names the
argument, the position and the offending value. Inputs are read with ``np.asarray`` (so a
list, a numpy array and a pandas Series are all accepted without importing pandas) and are
never modified.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from custsuccess.errors import NumericalError, ValidationError

__all__ = [
    "as_bool_array",
    "as_count",
    "as_float_array",
    "as_fraction",
    "as_money",
    "as_nonnegative",
    "as_positive",
    "choice",
    "finite_result",
    "overflow_safe_mean",
]

FloatArray = npt.NDArray[np.float64]
_SHOWN: Final = 3


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def as_float_array(values: Any, name: str, *, minimum: float | None = None) -> FloatArray:
    """``values`` as a new one-dimensional float64 array of finite numbers.

    NaN, infinities, booleans, strings and values below ``minimum`` are rejected with the
    position and the value.

    >>> as_float_array([1, 2.5], "x").tolist()
    [1.0, 2.5]
    >>> as_float_array([1, float("nan")], "x")
    Traceback (most recent call last):
    ...
    custsuccess.errors.ValidationError: x must hold finite numbers, got nan at position 1
    """
    if isinstance(values, (str, bytes)):
        raise ValidationError(f"{name} must be a sequence of numbers, got a string {values!r}")
    if np.isscalar(values):
        raise ValidationError(
            f"{name} must be a sequence of numbers (a list, array or Series), got {values!r}"
        )
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "b":
        raise ValidationError(f"{name} must hold numbers, got booleans")
    if arr.dtype.kind == "c":
        raise ValidationError(f"{name} must hold real numbers, got complex values")
    if arr.dtype.kind not in "iuf":
        out = np.empty(arr.shape, dtype=np.float64)
        for i, item in enumerate(arr.tolist()):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                if item is None or type(item).__name__ in {"NAType", "NaTType"}:
                    raise ValidationError(
                        f"{name} must hold finite numbers, got {item!r} at position {i}"
                    )
                raise ValidationError(f"{name} must hold numbers, got {item!r} at position {i}")
            out[i] = float(item)
    else:
        out = arr.astype(np.float64, copy=True)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"{name} must hold finite numbers, got {_py(out[i])!r} at position {i}"
        )
    if minimum is not None:
        bad = np.flatnonzero(out < minimum)
        if bad.size:
            i = int(bad[0])
            raise ValidationError(
                f"{name} must be >= {minimum:g}, got {_py(arr[i])!r} at position {i}"
                + (f" ({bad.size} such values)" if bad.size > 1 else "")
            )
    return out


def _scalar(value: Any, name: str) -> float:
    value = _py(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{name} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValidationError(f"{name} must be a finite number, got {value!r}")
    return out


def as_nonnegative(value: Any, name: str) -> float:
    """A finite number >= 0."""
    out = _scalar(value, name)
    if out < 0:
        raise ValidationError(f"{name} must be >= 0, got {_py(value)!r}")
    return out


def as_money(value: Any, name: str) -> float:
    """An amount of MRR: a finite number >= 0 (negative MRR is rejected)."""
    out = _scalar(value, name)
    if out < 0:
        raise ValidationError(
            f"{name} must be an amount >= 0 (MRR is never negative), got {_py(value)!r}"
        )
    return out


def as_positive(value: Any, name: str) -> float:
    """A finite number > 0."""
    out = _scalar(value, name)
    if out <= 0:
        raise ValidationError(f"{name} must be > 0, got {_py(value)!r}")
    return out


def as_count(value: Any, name: str) -> int:
    """A whole number >= 0 (``3.0`` is accepted as 3, ``2.5`` is not)."""
    out = _scalar(value, name)
    if out < 0 or out != math.floor(out):
        raise ValidationError(f"{name} must be a whole number >= 0, got {_py(value)!r}")
    return int(out)


def as_fraction(value: Any, name: str, *, open_low: bool = False) -> float:
    """A number in [0, 1] (or (0, 1] with ``open_low``)."""
    out = _scalar(value, name)
    if out > 1 or out < 0 or (open_low and out == 0):
        interval = "(0, 1]" if open_low else "[0, 1]"
        raise ValidationError(f"{name} must be in {interval}, got {_py(value)!r}")
    return out


def choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def as_bool_array(values: Any, name: str) -> npt.NDArray[np.bool_]:
    """``values`` as a one-dimensional boolean array: booleans, or numbers that are 0 or 1.

    Strings are refused, not converted: ``np.asarray(["False", "True"], dtype=bool)`` is
    ``[True, True]`` (every non-empty string is true), a silent wrong answer.

    >>> as_bool_array([0, 1, True], "labels").tolist()
    [False, True, True]
    >>> as_bool_array(["False", "True"], "labels")
    Traceback (most recent call last):
    ...
    custsuccess.errors.ValidationError: labels must hold booleans or 0/1, got 'False' at position 0
    """
    if isinstance(values, (str, bytes)) or np.isscalar(values) or values is None:
        raise ValidationError(f"{name} must be a sequence of booleans, got {values!r}")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "b":
        return arr.astype(bool, copy=True)
    items = arr.tolist()
    out = np.empty(arr.shape, dtype=bool)
    for i, item in enumerate(items):
        if isinstance(item, bool):
            out[i] = item
        elif isinstance(item, (int, float)) and not isinstance(item, bool) and item in (0, 1):
            out[i] = bool(item)
        else:
            raise ValidationError(f"{name} must hold booleans or 0/1, got {item!r} at position {i}")
    return out


def finite_result(value: float, name: str) -> float:
    """``value`` when it is a finite number; :class:`~custsuccess.errors.NumericalError`
    when the inputs drove it past double precision (inf or NaN)."""
    if not math.isfinite(value):
        raise NumericalError(
            f"{name} is not a finite number ({value!r}): the inputs are too large for "
            "double precision"
        )
    return value


def overflow_safe_mean(values: FloatArray, count: int) -> float:
    """``sum(values) / count`` for finite values >= 0 (``count >= 1``), finite even when
    the sum overflows (the mean of numbers <= max is <= max)."""
    with np.errstate(over="ignore"):
        total = float(values.sum())
    if math.isfinite(total):
        return total / count
    top = float(values.max())
    return float((values / top).sum()) / count * top
