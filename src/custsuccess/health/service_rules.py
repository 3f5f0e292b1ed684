"""Health rules on service-quality surveys: ``survey.csat`` and ``survey.ces``.

Each scores the account's latest answer of its survey kind in the last ``window_days``
(default 180) on a 0-100 scale; NaN without a recent answer. They are registered as
built-in plugins by :mod:`custsuccess.builtins.health_rules` with default weight 0 (a host
that runs these surveys switches them on in its health config), so adding them changes no
existing score. Formulas are on the documentation page ``docs/support.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np

from custsuccess.errors import ValidationError
from custsuccess.health._kernels import DAY_US, Named, as_us
from custsuccess.typing import Reasons, RuleResult

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = ["SERVICE_RULES", "CesRule", "CsatRule"]


def _window(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValidationError(
            f"{type(instance).__name__}.{attribute.name} must be a number of days > 0, "
            f"got {value!r}"
        )


class _SurveyRule(Named):
    __slots__ = ()
    KIND: ClassVar[str]
    LOW: ClassVar[int]
    HIGH: ClassVar[int]
    DEFAULT_WEIGHT: ClassVar[float] = 0.0

    @property
    def default_weight(self) -> float:
        """0: switched on by a host that runs the survey."""
        return self.DEFAULT_WEIGHT

    def _evaluate(self, dataset: Dataset, as_of: np.datetime64, window_days: float) -> RuleResult:
        from custsuccess.metrics.service import latest_answers

        value, when = latest_answers(dataset, self.KIND)
        age = (as_us(as_of) - when.astype("datetime64[us]").view(np.int64)) / DAY_US
        recent = ~np.isnan(value) & (age <= window_days)
        score = np.where(recent, 100.0 * (value - self.LOW) / (self.HIGH - self.LOW), np.nan)
        codes = np.where(recent, 0, -1).astype(np.int8)
        template = f"answered {{answer:.0f}} of {self.HIGH} {{days:.0f}} days ago"
        return RuleResult(
            score.astype(np.float64), Reasons((template,), codes, {"answer": value, "days": age})
        )


@attrs.frozen(slots=True)
class CsatRule(_SurveyRule):
    """``survey.csat``: the latest CSAT answer (1-5) in ``window_days``:
    ``score = 100 x (answer - 1) / 4``."""

    NAME: ClassVar[str] = "survey.csat"
    DESCRIPTION: ClassVar[str] = "the latest customer-satisfaction (CSAT) answer"
    KIND: ClassVar[str] = "csat_response"
    LOW: ClassVar[int] = 1
    HIGH: ClassVar[int] = 5
    window_days: float = attrs.field(default=180.0, validator=_window)

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        return self._evaluate(dataset, as_of, self.window_days)


@attrs.frozen(slots=True)
class CesRule(_SurveyRule):
    """``survey.ces``: the latest customer-effort answer (1-7, 7 easiest) in
    ``window_days``: ``score = 100 x (answer - 1) / 6``."""

    NAME: ClassVar[str] = "survey.ces"
    DESCRIPTION: ClassVar[str] = "the latest customer-effort (CES) answer"
    KIND: ClassVar[str] = "ces_response"
    LOW: ClassVar[int] = 1
    HIGH: ClassVar[int] = 7
    window_days: float = attrs.field(default=180.0, validator=_window)

    def evaluate(self, dataset: Dataset, as_of: np.datetime64) -> RuleResult:
        return self._evaluate(dataset, as_of, self.window_days)


#: The survey rules, in registration order.
SERVICE_RULES: Final = (CsatRule, CesRule)
