"""Churn analysis: the churn database, pluggable churn reasons, patterns and survival.

* :func:`records`: one row per churned customer as of a date, with tenure, reason (given
  or classified by the churn-reason plugins), evidence, engagement trend, the period of
  non-use before cancelling, MRR lost, segment and plan.
* :mod:`custsuccess.churn.reasons`: the built-in classifiers.
* :func:`reason_distribution`, :func:`tenure_by_reason`, :func:`inactivity_profile`,
  :func:`churn_by`: patterns in the churn database.
* :func:`kaplan_meier`, :func:`logrank_test`, :func:`lifetimes_from`: survival analysis;
  :func:`nelson_aalen` (cumulative hazard), weights, late entry and restricted means in
  :mod:`custsuccess.churn.hazard`; :func:`multivariate_logrank_test` (k groups, weighted,
  stratified) and :func:`pairwise_logrank_test`; :class:`CoxModel` (Cox regression);
  churn reasons as competing risks (:func:`cumulative_incidence`, :func:`gray_test`,
  :func:`competing_risks_from`).

See docs/churn.md for every definition and formula.
"""

from __future__ import annotations

from custsuccess.churn._windows import DEFAULT_ACTIVITY_KINDS
from custsuccess.churn.analysis import (
    ChurnBy,
    InactivityProfile,
    ReasonDistribution,
    TenureByReason,
    churn_by,
    inactivity_profile,
    reason_distribution,
    tenure_by_reason,
)
from custsuccess.churn.competing import (
    CompetingRisks,
    CumulativeIncidence,
    GrayTestResult,
    competing_risks_from,
    cumulative_incidence,
    gray_test,
)
from custsuccess.churn.cox import CoxModel, concordance_index, covariates_from_lifetimes
from custsuccess.churn.hazard import NelsonAalen, RestrictedMean, nelson_aalen
from custsuccess.churn.logrank import (
    KSampleLogRankResult,
    PairwiseLogRank,
    multivariate_logrank_test,
    pairwise_logrank_test,
)
from custsuccess.churn.reasons import (
    UNCLASSIFIED,
    DisengagedReason,
    DowngradePathReason,
    GivenReason,
    InvoluntaryReason,
    NeverOnboardedReason,
    SupportFrictionReason,
    builtin_classifiers,
)
from custsuccess.churn.records import ChurnRecords, churned_accounts, records
from custsuccess.churn.survival import (
    KaplanMeier,
    Lifetimes,
    LogRankResult,
    kaplan_meier,
    lifetimes_from,
    logrank_test,
)

__all__ = [
    "DEFAULT_ACTIVITY_KINDS",
    "UNCLASSIFIED",
    "ChurnBy",
    "ChurnRecords",
    "CompetingRisks",
    "CoxModel",
    "CumulativeIncidence",
    "DisengagedReason",
    "DowngradePathReason",
    "GivenReason",
    "GrayTestResult",
    "InactivityProfile",
    "InvoluntaryReason",
    "KSampleLogRankResult",
    "KaplanMeier",
    "Lifetimes",
    "LogRankResult",
    "NelsonAalen",
    "NeverOnboardedReason",
    "PairwiseLogRank",
    "ReasonDistribution",
    "RestrictedMean",
    "SupportFrictionReason",
    "TenureByReason",
    "builtin_classifiers",
    "churn_by",
    "churned_accounts",
    "competing_risks_from",
    "concordance_index",
    "covariates_from_lifetimes",
    "cumulative_incidence",
    "gray_test",
    "inactivity_profile",
    "kaplan_meier",
    "lifetimes_from",
    "logrank_test",
    "multivariate_logrank_test",
    "nelson_aalen",
    "pairwise_logrank_test",
    "reason_distribution",
    "records",
    "tenure_by_reason",
]
