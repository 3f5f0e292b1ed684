"""Customer lifetime value: RFM summaries and the probabilistic CLV models.

* :func:`rfm_summary` / :func:`rfm_from_dataset`: frequency, recency, T and monetary
  value per customer, with lifetimes' definitions, vectorised.
* :class:`BetaGeoModel` (BG/NBD) and :class:`ParetoNBDModel`: repeat purchasing of
  non-contractual customers; :class:`GammaGammaModel`: spend per purchase and CLV;
  :class:`ShiftedBetaGeometricModel` (sBG): retention of contractual subscribers.

This package imports SciPy; ``import custsuccess`` alone does not.
"""

from __future__ import annotations

from custsuccess.clv.base import ParameterSummary
from custsuccess.clv.bgnbd import BetaGeoModel
from custsuccess.clv.gamma_gamma import PERIODS_PER_MONTH, GammaGammaModel, TransactionModel
from custsuccess.clv.pareto_nbd import ParetoNBDModel
from custsuccess.clv.rfm import (
    PERIODS,
    RFMHoldoutSummary,
    RFMSummary,
    rfm_from_dataset,
    rfm_summary,
)
from custsuccess.clv.sbg import ShiftedBetaGeometricModel

__all__ = [
    "PERIODS",
    "PERIODS_PER_MONTH",
    "BetaGeoModel",
    "GammaGammaModel",
    "ParameterSummary",
    "ParetoNBDModel",
    "RFMHoldoutSummary",
    "RFMSummary",
    "ShiftedBetaGeometricModel",
    "TransactionModel",
    "rfm_from_dataset",
    "rfm_summary",
]
