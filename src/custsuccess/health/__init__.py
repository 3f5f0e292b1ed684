"""Health scoring: the engine, the built-in rules and playbooks, and backtesting.

* :class:`HealthModel`: rules with weights, tier thresholds and playbooks;
  ``model.score(dataset, as_of)`` gives a :class:`HealthReport`, ``model.score_one(...)``
  scores one account from plain records.
* :mod:`custsuccess.health.rules`: the built-in rules (``usage.recency``,
  ``usage.frequency``, ``usage.trend``, ``onboarding.progress``, ``survey.nps``,
  ``support.responsiveness``, ``billing.payment_failures``, ``advocacy.referrals``,
  ``adoption.breadth``).
* :mod:`custsuccess.health.playbooks`: the built-in playbooks.
* :func:`training_frame`: point-in-time features and churn labels;
  :func:`learn`: a health score learned from them (a calibrated churn probability).
* :func:`backtest`: how well the score predicts churn; :func:`driver_analysis`: churn by
  decile of every feature, before any model.

The formulas, their sources and how to write a rule of your own are in ``docs/health.md``.
"""

from __future__ import annotations

from custsuccess.health.backtest import BacktestResult, backtest, roc_auc
from custsuccess.health.drivers import Driver, DriverAnalysis, driver_analysis
from custsuccess.health.features import FeatureSpec, TrainingFrame, training_frame
from custsuccess.health.learn import LearnedScorer, learn
from custsuccess.health.model import DEFAULT_GOOD, DEFAULT_POOR, HealthModel
from custsuccess.health.report import TIERS, Explanation, HealthReport, RuleContribution

__all__ = [
    "DEFAULT_GOOD",
    "DEFAULT_POOR",
    "TIERS",
    "BacktestResult",
    "Driver",
    "DriverAnalysis",
    "Explanation",
    "FeatureSpec",
    "HealthModel",
    "HealthReport",
    "LearnedScorer",
    "RuleContribution",
    "TrainingFrame",
    "backtest",
    "driver_analysis",
    "learn",
    "roc_auc",
    "training_frame",
]
