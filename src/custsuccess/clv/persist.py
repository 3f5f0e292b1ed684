"""Fitted CLV models from known parameters, and to and from JSON.

The JSON form is ``{"format": 1, "model": <class name>, "params": {...},
"covariance": [[...]] or null, "log_likelihood", "n_observations", "penalizer"}``:
plain numbers, readable by any language, no pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    from custsuccess.clv.base import Fitter, _Fit

__all__ = ["dump_json", "fitted_state", "load_json", "load_model", "save_model"]

FORMAT = 1


def _models() -> dict[str, type[Fitter]]:
    from custsuccess.clv.bgbb import BetaGeoBetaBinomModel
    from custsuccess.clv.bgnbd import BetaGeoModel
    from custsuccess.clv.gamma_gamma import GammaGammaModel
    from custsuccess.clv.mbgnbd import ModifiedBetaGeoModel
    from custsuccess.clv.pareto_nbd import ParetoNBDModel
    from custsuccess.clv.sbg import ShiftedBetaGeometricModel

    classes: list[type[Fitter]] = [
        BetaGeoModel, ParetoNBDModel, GammaGammaModel, ShiftedBetaGeometricModel,
        ModifiedBetaGeoModel, BetaGeoBetaBinomModel,
    ]
    return {c.__name__: c for c in classes}


def fitted_state(
    cls: type[Fitter],
    params: Mapping[str, Any],
    *,
    covariance: Any = None,
    log_likelihood: float = math.nan,
    n_observations: float = 0.0,
) -> _Fit:
    """The fitted state of ``cls`` with ``params`` (exactly its parameter names, each a
    finite number > 0)."""
    from custsuccess.clv.base import _Fit

    names = cls.param_names
    unknown = sorted(set(params) - set(names))
    missing = [n for n in names if n not in params]
    if unknown or missing:
        raise ValidationError(
            f"{cls.__name__} needs exactly the parameters {list(names)}; "
            f"missing {missing}, unknown {unknown}"
        )
    values = {}
    for n in names:
        v = params[n]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
            math.isfinite(v) and v > 0
        ):
            raise ValidationError(f"{cls.__name__}: {n} must be a finite number > 0, got {v!r}")
        values[n] = float(v)
    k = len(names)
    cov = np.full((k, k), np.nan) if covariance is None else np.asarray(covariance, dtype=float)
    if cov.shape != (k, k):
        raise ValidationError(f"covariance must be {k} x {k}, got shape {cov.shape}")
    se = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
    return _Fit(
        params=MappingProxyType(values),
        standard_errors=MappingProxyType({n: float(s) for n, s in zip(names, se, strict=True)}),
        covariance=cov,
        log_likelihood=float(log_likelihood),
        n_observations=float(n_observations),
        iterations=0,
    )


def dump_json(model: Fitter) -> str:
    """``model`` (fitted) as a JSON string."""
    fit = model._fitted()
    cov = fit.covariance
    return json.dumps(
        {
            "format": FORMAT,
            "model": type(model).__name__,
            "params": dict(fit.params),
            "covariance": None if np.isnan(cov).all() else cov.tolist(),
            "log_likelihood": None if math.isnan(fit.log_likelihood) else fit.log_likelihood,
            "n_observations": fit.n_observations,
            "penalizer": model.penalizer,
        }
    )


def load_json(text: str) -> Fitter:
    """The model a :func:`dump_json` string describes."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not a saved model (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValidationError(f"not a saved model of format {FORMAT}")
    models = _models()
    name = data.get("model")
    if name not in models:
        raise ValidationError(f"unknown model {name!r}; expected one of {sorted(models)}")
    cls = models[name]
    model = cls(penalizer=float(data.get("penalizer", 0.0)))
    loglik = data.get("log_likelihood")
    model._fit = fitted_state(
        cls,
        data.get("params") or {},
        covariance=data.get("covariance"),
        log_likelihood=math.nan if loglik is None else float(loglik),
        n_observations=float(data.get("n_observations", 0.0)),
    )
    return model


def save_model(model: Fitter, path: str | Path) -> None:
    """Write ``model`` to ``path`` as JSON."""
    Path(path).write_text(dump_json(model), encoding="utf-8")


def load_model(path: str | Path) -> Fitter:
    """Read a model written by :func:`save_model`."""
    return load_json(Path(path).read_text(encoding="utf-8"))
