"""Lifecycle stages: where each account stands in its life at ``as_of``.

The stages, checked in this order (the first that holds wins):

1. ``churned``: the account had subscriptions and none is running at ``as_of``;
2. ``trial``: subscriptions are running but none pays (every running one has ``mrr``
   0, or a plan named in ``trial_plans``);
3. ``renewal``: a running subscription's ``renews_at`` falls in the
   ``renewal_window_days`` after ``as_of`` (default 90);
4. ``onboarding``: the account was created less than ``onboarding_days`` before
   ``as_of`` (default 90: "the first 90 days are onboarding", founding text 1);
5. ``adoption``: every other account created at or before ``as_of``.

An account created after ``as_of`` has no stage (code -1, name None). An account with no
subscription at all (a business without subscriptions) is staged by age: onboarding,
then adoption. Formulas are on the documentation page ``docs/lifecycle.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import to_pandas_renamed
from custsuccess.dataset import require_dataset
from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame
from custsuccess.metrics.users import resolve_as_of

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset
    from custsuccess.metrics.periods import Moment

__all__ = ["STAGES", "LifecycleStages", "lifecycle_stages"]

#: The lifecycle stages; a stage's code is its position here.
STAGES: Final = ("trial", "onboarding", "adoption", "renewal", "churned")
DAY_US: Final = 86_400_000_000


@attrs.frozen(slots=True, eq=False)
class LifecycleStages:
    """Per customer (customer index order): ``code`` into :data:`STAGES`, -1 when the
    account did not exist yet at ``as_of``."""

    as_of: np.datetime64
    customer_ids: npt.NDArray[np.str_]
    code: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return len(self.customer_ids)

    @property
    def stage(self) -> npt.NDArray[np.object_]:
        """The stage names (None where the account did not exist yet)."""
        names = np.array([*STAGES, None], dtype=object)
        out: npt.NDArray[np.object_] = names[self.code]
        return out

    def counts(self) -> dict[str, int]:
        """Accounts per stage, in :data:`STAGES` order."""
        counted = np.bincount(self.code[self.code >= 0], minlength=len(STAGES))
        return {name: int(counted[i]) for i, name in enumerate(STAGES)}

    def of(self, customer_id: str) -> str | None:
        """The stage of one account."""
        i = int(np.searchsorted(self.customer_ids, customer_id)) if len(self) else 0
        if i >= len(self) or self.customer_ids[i] != customer_id:
            raise ValidationError(f"unknown customer id {customer_id!r}")
        code = int(self.code[i])
        return None if code < 0 else STAGES[code]

    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by customer id, with the ``stage`` column."""
        return to_frame({"stage": self.stage}, self.customer_ids.tolist(), "customer_id")


def _days(value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(
            f"lifecycle_stages: {label} must be a whole number >= 0, got {value!r}"
        )
    return value


def lifecycle_stages(
    dataset: Dataset,
    *,
    as_of: Moment | None = None,
    onboarding_days: int = 90,
    renewal_window_days: int = 90,
    trial_plans: Iterable[str] = (),
) -> LifecycleStages:
    """Each account's lifecycle stage at ``as_of`` (see the module docs for the rule).

    ``as_of`` defaults to the dataset view's ``as_of`` (else its latest event).

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> from custsuccess import Customer, Dataset, Subscription
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> d = lambda n: t + timedelta(days=n)
    >>> ds = Dataset.from_records(
    ...     [Customer("gone", d(0)), Customer("new", d(300)), Customer("old", d(0)),
    ...      Customer("renewing", d(0)), Customer("trying", d(330)), Customer("later", d(400))],
    ...     [Subscription("s1", "gone", "pro", 50.0, "USD", d(0), d(200)),
    ...      Subscription("s2", "new", "pro", 50.0, "USD", d(300)),
    ...      Subscription("s3", "old", "pro", 50.0, "USD", d(0), renews_at=d(500)),
    ...      Subscription("s4", "renewing", "pro", 50.0, "USD", d(0), renews_at=d(400)),
    ...      Subscription("s5", "trying", "trial", 0.0, "USD", d(330))])
    >>> stages = lifecycle_stages(ds, as_of=d(360))
    >>> dict(zip(stages.customer_ids.tolist(), stages.stage.tolist()))
    {'gone': 'churned', 'later': None, 'new': 'onboarding', 'old': 'adoption',
     'renewing': 'renewal', 'trying': 'trial'}
    """
    require_dataset(dataset, "dataset", "lifecycle_stages()")
    t = resolve_as_of(dataset, as_of, "lifecycle_stages")
    onboarding = _days(onboarding_days, "onboarding_days")
    window = _days(renewal_window_days, "renewal_window_days")
    if isinstance(trial_plans, str):
        trial_plans = (trial_plans,)
    trial_names = tuple(trial_plans)
    if any(not isinstance(p, str) for p in trial_names):
        raise ValidationError(
            f"lifecycle_stages: trial_plans must be plan names, got {trial_names!r}"
        )
    view = dataset.until(t)
    n = view.n_customers
    subs = view.subscriptions
    running = subs.active_at(t)
    trial_codes = [c for c in (subs.plan.code_of(p) for p in trial_names) if c >= 0]
    paying = running & (subs.mrr > 0) & ~np.isin(subs.plan.codes, trial_codes)
    horizon = t + np.timedelta64(window * DAY_US, "us")
    renewing = (
        running & ~np.isnat(subs.renews_at) & (subs.renews_at > t) & (subs.renews_at <= horizon)
    )

    def any_per_customer(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        out = np.zeros(n, dtype=bool)
        out[subs.customer[mask]] = True
        return out

    has_sub = any_per_customer(np.ones(len(subs), dtype=bool))
    has_running = any_per_customer(running)
    has_paying = any_per_customer(paying)
    has_renewal = any_per_customer(renewing)
    created = view.customers.created_at
    age_days = (t - created).astype("timedelta64[us]").astype(np.int64) / DAY_US
    code = np.full(n, STAGES.index("adoption"), dtype=np.int8)
    code[age_days < onboarding] = STAGES.index("onboarding")
    code[has_renewal] = STAGES.index("renewal")
    code[has_running & ~has_paying] = STAGES.index("trial")
    code[has_sub & ~has_running] = STAGES.index("churned")
    code[created > t] = -1
    return LifecycleStages(as_of=t, customer_ids=view.customer_ids, code=code)
