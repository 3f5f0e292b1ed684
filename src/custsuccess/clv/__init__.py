"""Customer lifetime value: RFM summaries and the probabilistic CLV models.

* :func:`rfm_summary` / :func:`rfm_from_dataset`: frequency, recency, T and monetary
  value per customer, with lifetimes' definitions, vectorised.
* :class:`BetaGeoModel` (BG/NBD) and :class:`ParetoNBDModel`: repeat purchasing of
  non-contractual customers; :class:`GammaGammaModel`: spend per purchase and CLV;
  :class:`ShiftedBetaGeometricModel` (sBG): retention of contractual subscribers;
  :class:`ModifiedBetaGeoModel` (MBG/NBD) and :class:`BetaGeoBetaBinomModel` (BG/BB,
  discrete opportunities).
* Every model: ``Model.from_params(...)``, ``to_json()`` / ``Model.from_json(...)``;
  :mod:`custsuccess.clv.purchases`: purchase-count probabilities, P(alive) matrices,
  tracking against actuals, delta-method intervals.

This package imports SciPy; ``import custsuccess`` alone does not.
"""

from __future__ import annotations

from custsuccess.clv.base import ParameterSummary
from custsuccess.clv.bgbb import BetaGeoBetaBinomModel
from custsuccess.clv.bgnbd import BetaGeoModel
from custsuccess.clv.gamma_gamma import PERIODS_PER_MONTH, GammaGammaModel, TransactionModel
from custsuccess.clv.mbgnbd import ModifiedBetaGeoModel
from custsuccess.clv.pareto_nbd import ParetoNBDModel
from custsuccess.clv.persist import load_model, save_model
from custsuccess.clv.purchases import (
    CumulativeTransactions,
    delta_method_interval,
    expected_cumulative_transactions,
    parametric_bootstrap_interval,
    period_transactions,
    probability_alive_matrix,
    probability_alive_path,
    probability_of_purchases,
)
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
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "CumulativeTransactions",
    "GammaGammaModel",
    "ModifiedBetaGeoModel",
    "ParameterSummary",
    "ParetoNBDModel",
    "RFMHoldoutSummary",
    "RFMSummary",
    "ShiftedBetaGeometricModel",
    "TransactionModel",
    "delta_method_interval",
    "expected_cumulative_transactions",
    "load_model",
    "parametric_bootstrap_interval",
    "period_transactions",
    "probability_alive_matrix",
    "probability_alive_path",
    "probability_of_purchases",
    "rfm_from_dataset",
    "rfm_summary",
    "save_model",
]
