"""Users inside accounts: active users, DAU/MAU, seat utilisation, breadth and the
"champion gone quiet" signal.

An event's user is its ``user_id`` (:attr:`custsuccess.models.Event.user_id`, the
``user_id`` column of the events). A user is *active* in a window when it has at least one
activity event (login, feature_used, page_view, time_on_site by default) in it. Windows
are rolling 24-hour day slots ending at ``as_of`` (slot ``d`` is
``(as_of - (d + 1) days, as_of - d days]``), as for the health rules, so the figures do not
depend on a calendar's time zone. Everything is computed on whole arrays, one pass per
question, whatever the number of accounts.

Formulas and sources are on the documentation page ``docs/users.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._html import to_pandas_renamed
from custsuccess.dataset import require_dataset, to_datetime64
from custsuccess.errors import ValidationError
from custsuccess.metrics._frame import to_frame
from custsuccess.models import EventKind

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset
    from custsuccess.metrics.periods import Moment

__all__ = [
    "USER_ACTIVITY_KINDS",
    "UserActivity",
    "resolve_as_of",
    "seats_of",
    "user_activity",
]

#: The event kinds that make a user active unless told otherwise.
USER_ACTIVITY_KINDS: Final = ("login", "feature_used", "page_view", "time_on_site")
DAY_US: Final = 86_400_000_000

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def resolve_as_of(dataset: Dataset, as_of: Moment | None, what: str) -> np.datetime64:
    """``as_of`` as datetime64[us]; by default the dataset view's ``as_of``, else its
    latest event or customer creation."""

    require_dataset(dataset, "dataset", what)
    if as_of is not None:
        return to_datetime64(as_of, "as_of")
    if dataset.as_of is not None:
        return dataset.as_of
    times = [dataset.events.time, dataset.customers.created_at]
    latest = [t.max() for t in times if t.size]
    if not latest:
        raise ValidationError(f"{what}: the dataset is empty; pass as_of")
    moment: np.datetime64 = max(latest).astype("datetime64[us]")
    return moment


def seats_of(dataset: Dataset, attribute: str = "seats") -> F64:
    """The customer attribute ``attribute`` as seats per account (NaN where missing).

    A value that is not a whole number >= 0 is a ValidationError naming the customer.
    """
    require_dataset(dataset, "dataset", "seats_of()")
    if not isinstance(attribute, str) or not attribute:
        raise ValidationError(f"seats attribute must be a non-empty string, got {attribute!r}")
    n = dataset.n_customers
    column = dataset.customers.attributes.get(attribute)
    if column is None:
        return np.full(n, np.nan)
    raw = np.asarray(column)
    if raw.dtype.kind in "iuf":
        seats = raw.astype(np.float64)
    else:
        seats = np.full(n, np.nan)
        for i, item in enumerate(raw.tolist()):
            if item is None or (isinstance(item, float) and item != item):
                continue
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise ValidationError(
                    f"customer {str(dataset.customer_ids[i])!r}: attribute {attribute!r} must "
                    f"be a number of seats, got {item!r}"
                )
            seats[i] = float(item)
    bad = np.flatnonzero(~np.isnan(seats) & ((seats < 0) | (seats != np.floor(seats))))
    bad = np.union1d(bad, np.flatnonzero(np.isinf(seats))).astype(np.intp)
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"customer {str(dataset.customer_ids[i])!r}: attribute {attribute!r} must be a "
            f"whole number of seats >= 0, got {float(seats[i])!r}"
        )
    return seats


@attrs.frozen(slots=True, eq=False)
class UserActivity:
    """Per account (customer index order), who inside it uses the product at ``as_of``.

    * ``daily_active``, ``weekly_active``, ``monthly_active``: distinct users active in
      the last 1, 7 and 30 day slots;
    * ``dau_mau``: the mean over the last 30 day slots of the users active each day,
      divided by ``monthly_active`` (NaN when nobody was active);
    * ``known_users``: distinct users seen in any event up to ``as_of``;
    * ``breadth``: ``monthly_active / known_users`` (NaN with no known user);
    * ``seats``, ``seat_utilisation``: the seats attribute and ``monthly_active / seats``
      (NaN where seats are missing or 0);
    * ``champion``: the user with the most active days in the 90 day slots before the last
      30 (ties: the later last activity, then the user id), None when there is none;
    * ``champion_quiet``: the champion had no activity in the last 30 day slots;
    * ``champion_quiet_days``: days from the champion's last activity to ``as_of``.
    """

    #: The unit of each field (see :mod:`custsuccess.units`).
    units: ClassVar[Mapping[str, str]] = {
        "daily_active": "count",
        "weekly_active": "count",
        "monthly_active": "count",
        "dau_mau": "fraction",
        "known_users": "count",
        "breadth": "fraction",
        "seats": "count",
        "seat_utilisation": "fraction",
        "champion_quiet_days": "days",
    }

    as_of: np.datetime64
    customer_ids: npt.NDArray[np.str_]
    daily_active: I64
    weekly_active: I64
    monthly_active: I64
    dau_mau: F64
    known_users: I64
    breadth: F64
    seats: F64
    seat_utilisation: F64
    champion: npt.NDArray[np.object_]
    champion_quiet: npt.NDArray[np.bool_]
    champion_quiet_days: F64

    def __len__(self) -> int:
        return len(self.customer_ids)

    to_frame = to_pandas_renamed()

    def to_pandas(self) -> Any:
        """A pandas DataFrame indexed by customer id."""
        return to_frame(
            {
                name: getattr(self, name)
                for name in (
                    "daily_active", "weekly_active", "monthly_active", "dau_mau",
                    "known_users", "breadth", "seats", "seat_utilisation", "champion",
                    "champion_quiet", "champion_quiet_days",
                )
            },
            self.customer_ids.tolist(),
            "customer_id",
        )


def _distinct_count(customer: I64, key: I64, n: int) -> I64:
    """Distinct ``key`` values per customer (``key`` encodes the customer too)."""
    if not key.size:
        return np.zeros(n, dtype=np.int64)
    _, first = np.unique(key, return_index=True)
    return np.bincount(customer[first], minlength=n).astype(np.int64)


def user_activity(
    dataset: Dataset,
    *,
    as_of: Moment | None = None,
    kinds: Sequence[EventKind | str] = USER_ACTIVITY_KINDS,
    seats_attribute: str = "seats",
    champion_window_days: int = 90,
    quiet_days: int = 30,
) -> UserActivity:
    """Active users, DAU/MAU, breadth, seat utilisation and the champion per account.

    ``as_of`` defaults to the dataset view's ``as_of`` (else its latest event); only
    events at or before it are read. Events without a ``user_id`` count for no user.

    Examples
    --------
    Account ``a`` has 4 seats and two users: ``u1`` used the product on 20 days between
    31 and 50 days ago, then stopped; ``u2`` logged in 3 days ago and today.

    >>> from datetime import datetime, timedelta, timezone
    >>> from custsuccess import Customer, Dataset, Event
    >>> t = datetime(2024, 6, 1, tzinfo=timezone.utc)
    >>> events = [Event("a", "login", t - timedelta(days=d, hours=1), user_id="u1")
    ...           for d in range(31, 51)]
    >>> events += [Event("a", "login", t - timedelta(days=d, hours=1), user_id="u2")
    ...            for d in (0, 3)]
    >>> ds = Dataset.from_records(
    ...     [Customer("a", t - timedelta(days=400), attributes={"seats": 4})], events=events)
    >>> ua = user_activity(ds, as_of=t)
    >>> ua.daily_active.tolist(), ua.weekly_active.tolist(), ua.monthly_active.tolist()
    ([1], [1], [1])

    Two active user-days in 30 slots, one monthly user: DAU/MAU = (2 / 30) / 1; one of
    two known users is active (breadth 0.5); one of four seats is used (0.25):

    >>> round(float(ua.dau_mau[0]), 4), ua.breadth.tolist(), ua.seat_utilisation.tolist()
    (0.0667, [0.5], [0.25])

    ``u1`` was the most active user of the 90 days before the last 30, and has been quiet
    since 31 days and 1 hour ago:

    >>> ua.champion.tolist(), ua.champion_quiet.tolist(), ua.champion_quiet_days.round(2).tolist()
    (['u1'], [True], [31.04])
    """
    require_dataset(dataset, "dataset", "user_activity()")
    t = resolve_as_of(dataset, as_of, "user_activity")
    for label, value in (("champion_window_days", champion_window_days),
                         ("quiet_days", quiet_days)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError(f"user_activity: {label} must be a whole number > 0, "
                                  f"got {value!r}")
    if isinstance(kinds, str) or not kinds:
        raise ValidationError(
            f"user_activity: kinds must be a non-empty list of event kinds, got {kinds!r}"
        )
    kind_names = tuple(str(getattr(k, "value", k)) for k in kinds)
    view = dataset.until(t)
    n = view.n_customers
    seats = seats_of(view, seats_attribute)
    t_us = int(t.astype("datetime64[us]").view(np.int64))

    every = view.events
    users_all = every.property("user_id")
    n_users = max(len(users_all.categories), 1)
    has_user = users_all.codes >= 0
    known_key = every.customer[has_user].astype(np.int64) * n_users + users_all.codes[has_user]
    known = _distinct_count(every.customer[has_user].astype(np.int64), known_key, n)

    ev = view.events_of(*kind_names, properties=("user_id",))
    user = ev.property("user_id")
    keep = user.codes >= 0
    cust = ev.customer[keep].astype(np.int64)
    # the categories of this table and of all events can differ: re-key by the full table
    code = user.codes[keep].astype(np.int64)
    categories = np.asarray(user.categories, dtype=str)
    if categories.size:
        code = np.searchsorted(np.asarray(users_all.categories, dtype=str), categories)[code]
    key = cust * n_users + code
    time_us = ev.time[keep].astype("datetime64[us]").view(np.int64)
    slot = (t_us - time_us) // DAY_US  # 0 = the last 24 hours

    def active(days: int) -> I64:
        inside = slot < days
        return _distinct_count(cust[inside], key[inside], n)

    daily, weekly, monthly = active(1), active(7), active(30)
    in_month = slot < 30
    user_days = _distinct_count(
        cust[in_month], key[in_month] * 30 + slot[in_month], n
    ).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dau_mau = np.where(monthly > 0, user_days / 30.0 / monthly, np.nan)
        breadth = np.where(known > 0, monthly / np.maximum(known, 1), np.nan)
        utilisation = np.where(seats > 0, monthly / seats, np.nan)

    # champion: most active days in (quiet_days, quiet_days + window] day slots
    champion = np.full(n, None, dtype=object)
    quiet = np.zeros(n, dtype=bool)
    quiet_for = np.full(n, np.nan)
    window = (slot >= quiet_days) & (slot < quiet_days + champion_window_days)
    if window.any():
        day_keys = np.unique(key[window] * (quiet_days + champion_window_days) + slot[window])
        pair = day_keys // (quiet_days + champion_window_days)
        pairs, days_active = np.unique(pair, return_counts=True)
        # last activity of each (customer, user) pair over everything up to as_of
        order = np.argsort(key, kind="stable")
        all_keys, starts = np.unique(key[order], return_index=True)
        last_of_key = np.maximum.reduceat(time_us[order], starts)
        last_us = last_of_key[np.searchsorted(all_keys, pairs)]
        owner = pairs // n_users
        rank = np.lexsort((pairs % n_users, -last_us, -days_active, owner))
        ranked_owner = owner[rank]
        first = np.ones(rank.size, dtype=bool)
        first[1:] = ranked_owner[1:] != ranked_owner[:-1]
        best = rank[first]
        who = owner[best]
        names = np.asarray(users_all.categories, dtype=object)
        champion[who] = names[pairs[best] % n_users]
        quiet_for[who] = (t_us - last_us[best]) / DAY_US
        quiet[who] = last_us[best] <= t_us - quiet_days * DAY_US
    return UserActivity(
        as_of=t,
        customer_ids=view.customer_ids,
        daily_active=daily,
        weekly_active=weekly,
        monthly_active=monthly,
        dau_mau=dau_mau,
        known_users=known,
        breadth=breadth,
        seats=seats,
        seat_utilisation=utilisation,
        champion=champion,
        champion_quiet=quiet,
        champion_quiet_days=quiet_for,
    )
