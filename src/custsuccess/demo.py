"""A seeded synthetic SaaS population for the demo, the docs, the tests and the benchmarks.

:func:`generate` builds a :class:`~custsuccess.dataset.Dataset` of ``n_customers``
accounts whose records look like a real subscription business, and whose cause and effect
make customer-success numbers meaningful:

* **Signups** over the three years before ``end`` (growing: more signups lately), in
  segments ``smb`` / ``mid_market`` / ``enterprise`` (about 70 / 22 / 8 %), on plans
  ``starter`` / ``growth`` / ``pro`` / ``enterprise`` priced per seat (19, 39, 79 and
  129 USD a month, enterprise at least 2,000 USD).
* **Subscriptions**: one per customer at signup; upgrades and downgrades replace the
  running subscription with a new row (the old one ends at the switch); churners' last
  subscription ends, with a ``cancel_reason`` for about 60 % of voluntary churners
  (:data:`CANCEL_REASONS`) and none for the rest; involuntary churn (failed card) comes
  after a run of ``payment_failed`` events; some churned customers come back later
  (reactivation), so every kind of MRR movement occurs.
* **Events** (about 23 per customer): sessions on each account's rhythm (about one
  every three weeks for a typical account, busier for bigger and healthier ones, and
  busier during onboarding) of ``login``, often with ``feature_used`` (``feature`` from
  :data:`FEATURES`), sometimes ``page_view`` and ``time_on_site`` (seconds);
  quarterly ``nps_response`` (0..10) from a share of customers; ``support_request`` /
  ``support_reply`` pairs sharing a ``ticket`` on ``phone`` (minutes), ``chat`` (about a
  minute), ``email`` (hours to days) and ``social``, some never answered; ``email_sent`` ->
  ``email_open`` -> ``email_click`` funnels; ``cart_add`` and ``purchase`` of add-ons;
  ``referral``; ``payment_failed``.

Every customer has a hidden health level. It sets how often they use the product, how
they answer NPS surveys, how often they refer others, buy add-ons and upgrade, and their
churn hazard, together with slow support (each customer has a support-speed factor) and
payment trouble; young accounts (the first 120 days) carry an extra hazard. Before a
voluntary cancellation usage decays for weeks and then stops (the founding texts' "period
of non-use") while support requests pile up and are answered more slowly; about one new
customer in ten never onboards (almost no activity in the first 90 days) and churns early.
So low or decaying usage, support friction, detractor NPS, failed payments and youth all
come before churn, with noise, as a health score expects: a model learned on earlier
dates ranks the accounts that churn in the next 90 days with a ROC AUC near 0.78
(``benchmarks/bench_health_learn.py``).

The output is a pure function of ``(n_customers, seed, end)``: the default ``end`` is
fixed (:data:`DEFAULT_END`), never today's date. Everything is drawn with whole-array
numpy operations (``numpy.random.Generator``), in blocks of customers so that memory stays
bounded; 1M customers (about 23M events) take seconds.

>>> ds = generate(200, seed=1)
>>> ds.n_customers
200
>>> ds.equals(generate(200, seed=1))
True
>>> ds.customer_ids[:2].tolist()
['cus_0000000', 'cus_0000001']
"""

from __future__ import annotations

import itertools
import operator
from datetime import datetime
from typing import Final, NamedTuple, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import (
    BUILTIN_KINDS,
    Categorical,
    CustomerTable,
    Dataset,
    EventTable,
    SubscriptionTable,
    to_datetime64,
)
from custsuccess.errors import ValidationError

__all__ = [
    "CANCEL_REASONS",
    "DEFAULT_END",
    "FEATURES",
    "OWNERS",
    "PLANS",
    "SEAT_PRICES",
    "SEGMENTS",
    "generate",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: The default end of the generated history (exclusive): a fixed date, so the output
#: never depends on today's date.
DEFAULT_END: Final = "2026-10-31T00:00:00Z"
#: Customer segments, in the generator's order (smallest to largest accounts).
SEGMENTS: Final = ("smb", "mid_market", "enterprise")
#: Plans, cheapest first.
PLANS: Final = ("starter", "growth", "pro", "enterprise")
#: List price per seat and month of each plan, in USD.
SEAT_PRICES: Final = (19.0, 39.0, 79.0, 129.0)
#: Product features named by ``feature_used`` events, most popular first.
FEATURES: Final = (
    "dashboards",
    "reports",
    "alerts",
    "exports",
    "integrations",
    "api",
    "automations",
    "sso",
)
#: Reasons a voluntary churner may give when cancelling (sorted).
CANCEL_REASONS: Final = (
    "budget_cut",
    "business_closed",
    "missing_feature",
    "no_longer_needed",
    "poor_support",
    "price",
    "switched_competitor",
)
_REASON_WEIGHTS: Final = (0.14, 0.05, 0.20, 0.10, 0.06, 0.30, 0.15)
#: The success managers who own accounts (sorted).
OWNERS: Final = ("Ana Silva", "Ben Okafor", "Chloe Martin", "Dev Patel", "Eva Novak",
                 "Finn Larsen")
_MAX_USERS: Final = 40  # named users per account at most (user_01 ... user_40)
_CHANNELS: Final = ("chat", "email", "phone", "social")  # sorted, as Categorical wants

_SPAN_DAYS: Final = 3 * 365.0  # signups spread over the three years before `end`
_DAY_US: Final = 86_400_000_000
_MIN_ENTERPRISE_MRR: Final = 2000.0
_BLOCK: Final = 1 << 15  # customers per block of event generation (bounds memory)
_TIME_BITS: Final = 47  # microseconds since the origin fit in 47 bits (4.4 years)

# Expected events per customer are about 23 with these rates (see the benchmark).
_SESSION_RATE: Final = 0.038  # sessions a day for an average healthy customer
_ACTIVITY_SHAPE: Final = 5.0  # gamma shape of the customers' relative session rates
_ACTIVITY_HEALTH: Final = 0.4  # log session rate per unit of hidden health
_ONBOARDING_BOOST: Final = 1.5  # sessions during the first 90 days, times the steady rate
_VIEW_SHARE: Final = 0.05  # sessions with a page_view
_FEATURE_SHARE: Final = 0.55  # sessions with a feature_used
_SITE_SHARE: Final = 0.03  # sessions with a time_on_site
_EMAIL_RATE: Final = 0.0015
_PURCHASE_RATE: Final = 0.00045
_CART_RATE: Final = 0.00045  # abandoned carts, besides the cart_add before each purchase
_SUPPORT_RATE: Final = 0.0011
_REFERRAL_RATE: Final = 0.00012
_NPS_SHARE: Final = 0.4  # customers who answer NPS surveys at all
_NPS_ANSWER: Final = 0.55  # chance such a customer answers a given quarter's survey

_KIND = {name: np.int16(code) for code, name in enumerate(BUILTIN_KINDS)}


def generate(
    n_customers: int = 5000,
    seed: int = 0,
    *,
    end: datetime | np.datetime64 | str | None = None,
    service_events: bool = False,
) -> Dataset:
    """A realistic, reproducible SaaS dataset of ``n_customers`` accounts.

    Parameters
    ----------
    n_customers
        How many customers (>= 0). About 23 events and 1.2 subscriptions each.
    seed
        Seed of the random streams (an integer >= 0); the same seed gives the same dataset.
    end
        The moment the history stops (exclusive; timezone-aware datetime, ISO string or
        ``datetime64`` read as UTC). Default :data:`DEFAULT_END`. Signups fall in the three
        years before it; every event and subscription change is before it.
    service_events
        Also generate ``support_resolved`` events (most answered tickets are resolved
        hours after the reply) and ``csat_response`` answers (1-5) to a share of the
        resolved tickets (default False: these kinds change the event vocabulary, which a
        learned model reads).

    Returns
    -------
    Dataset
        Customer ids ``cus_0000000``, ``cus_0000001``, ... in index order; subscription
        ids ``sub_...``; support tickets ``T...``; all amounts in USD.

    Raises
    ------
    ValidationError
        When ``n_customers`` or ``seed`` is not a non-negative integer, or ``end`` is not a
        timezone-aware moment.

    Examples
    --------
    >>> ds = generate(300, seed=7)
    >>> len(ds), ds.subscriptions.currency.categories
    (300, ('USD',))
    >>> bool(ds.subscriptions.active_at(ds.events.time.max()).any())
    True
    """
    n = _non_negative_int(n_customers, "n_customers")
    seed = _non_negative_int(seed, "seed")
    end_us = to_datetime64(DEFAULT_END if end is None else end, "end").astype(np.int64)
    origin_us = int(end_us) - int(_SPAN_DAYS * _DAY_US)
    origin_day = origin_us / _DAY_US  # days since 1970-01-01, for weekdays and quarters

    pop = _population(n, np.random.default_rng([seed, 0]))
    iv = _intervals(pop, np.random.default_rng([seed, 1]))
    subs = _subscriptions(pop, iv, np.random.default_rng([seed, 2]), origin_us)
    events = _events(pop, iv, seed, origin_us, origin_day)

    ids = _ids("cus_", n, 7)
    # Accounts, contracts and users come from streams of their own, drawn after the rest,
    # so every figure of the customers, subscriptions and events above stays as it was.
    owner, parent = _accounts(pop, np.random.default_rng([seed, 10]))
    customers = CustomerTable(
        ids,
        _to_time(pop.signup, origin_us),
        _names(n, np.random.default_rng([seed, 3])),
        _categorical(pop.segment, SEGMENTS),
        _categorical(subs.last_plan, PLANS),
        {"seats": pop.seats.copy()},
        owner,
        parent,
    )
    table = _contracts(subs.table, pop, np.random.default_rng([seed, 11]), int(end_us))
    events = _users(events, pop, np.random.default_rng([seed, 12]))
    if service_events:
        events = _service_events(events, pop, np.random.default_rng([seed, 13]), int(end_us))
    return Dataset(customers, table, events)


# --------------------------------------------------------------------------- accounts


def _accounts(
    pop: _Population, rng: np.random.Generator
) -> tuple[Categorical, npt.NDArray[np.int32]]:
    """Owners and the account hierarchy.

    Every mid-market and enterprise account has a success manager; half the small ones
    are served without one (tech touch). A quarter of the enterprise accounts, and one
    mid-market account in ten, belong to an enterprise account created before them: a
    forest by construction (a parent always has a smaller index), of any depth.
    """
    n = pop.n
    owner = rng.integers(0, len(OWNERS), size=n).astype(np.int32)
    owner[(pop.segment == 0) & (rng.random(n) < 0.5)] = -1
    enterprise = np.flatnonzero(pop.segment == 2)
    child = ((pop.segment == 2) & (rng.random(n) < 0.25)) | (
        (pop.segment == 1) & (rng.random(n) < 0.10)
    )
    below = np.searchsorted(enterprise, np.arange(n))  # enterprise accounts before each
    pick = np.floor(rng.random(n) * below).astype(np.int64)
    parent = np.full(n, -1, dtype=np.int32)
    has = child & (below > 0)
    parent[has] = enterprise[pick[has]]
    return _categorical(owner, OWNERS), parent


def _contracts(
    table: SubscriptionTable, pop: _Population, rng: np.random.Generator, end_us: int
) -> SubscriptionTable:
    """Annual contracts with renewal dates.

    The enterprise plan and about 40 % of mid-market subscriptions are invoiced yearly
    (MRR unchanged: it is the monthly figure); their ``renews_at`` is the first
    anniversary of the start at or after the subscription's end (or, while it runs, after
    the end of the history); three in four renew by themselves. Monthly subscriptions
    carry no renewal date.
    """
    m = len(table)
    plan_code = table.plan.codes
    enterprise_plan = table.plan.code_of("enterprise")
    segment = pop.segment[table.customer]
    annual = (plan_code == enterprise_plan) | ((segment == 1) & (rng.random(m) < 0.4))
    start = table.started_at.view(np.int64)
    stop = np.where(np.isnat(table.ended_at), end_us, table.ended_at.view(np.int64))
    year = 365 * _DAY_US
    terms = np.maximum(np.ceil((stop - start) / year), 1).astype(np.int64)
    renews = np.where(annual, start + terms * year, np.iinfo(np.int64).min)
    auto = ~annual | (rng.random(m) < 0.75)
    return attrs.evolve(
        table,
        interval_months=np.where(annual, 12, 1).astype(np.int8),
        renews_at=renews.view("datetime64[us]"),
        auto_renew=auto,
    )


_ACTIVITY_KINDS: Final = ("login", "page_view", "feature_used", "time_on_site")


def _users(events: EventTable, pop: _Population, rng: np.random.Generator) -> EventTable:
    """A ``user_id`` on every activity event: each account has ``min(seats, 40)`` named
    users, the first the most active (user ``k`` of ``u`` acts with weight about
    ``1 / (k + 1)``): a champion and a tail, as in real accounts."""
    activity = np.isin(events.kind, [_KIND[k] for k in _ACTIVITY_KINDS])
    users = np.minimum(pop.seats, _MAX_USERS)[events.customer]
    draw = rng.random(len(events))
    # inverse of a log-uniform draw over 1..users+1: Zipf-like, user 0 the likeliest
    code = (np.exp(draw * np.log(users + 1.0)) - 1.0).astype(np.int32)
    code = np.where(activity, np.minimum(code, users - 1), -1).astype(np.int32)
    labels = tuple(f"user_{k + 1:02d}" for k in range(_MAX_USERS))
    return attrs.evolve(
        events, properties={**events.properties, "user_id": Categorical(code, labels)}
    )


def _service_events(
    events: EventTable, pop: _Population, rng: np.random.Generator, end_us: int
) -> EventTable:
    """``support_resolved`` for 85 % of answered tickets (a few hours after the reply;
    slower for customers with slow support) and a ``csat_response`` from a third of the
    resolved tickets a day later: 1-5, higher for healthy customers and fast resolutions."""
    reply = np.flatnonzero(events.kind == _KIND["support_reply"])
    cust = events.customer[reply]
    r_us = events.time[reply].view(np.int64)
    slow = pop.slow[cust]
    hours = rng.lognormal(np.log(6.0) + slow, 1.0)
    resolved_us = r_us + (hours * 3600e6).astype(np.int64)
    keep = (rng.random(reply.size) < 0.85) & (resolved_us < end_us)
    rows = reply[keep]
    n_res = int(keep.sum())
    health = pop.health[cust[keep]]
    answers = rng.random(n_res) < 1 / 3
    csat_us = resolved_us[keep] + ((1.0 + rng.random(n_res)) * 86_400e6).astype(np.int64)
    answers &= csat_us < end_us
    latent = 3.8 + 0.7 * health - 0.4 * np.log(hours[keep] / 6.0) + rng.normal(0, 0.8, n_res)
    csat = np.clip(np.rint(latent), 1, 5)
    kinds = (*BUILTIN_KINDS, "csat_response", "support_resolved")
    add_c = np.concatenate([events.customer[rows], events.customer[rows][answers]])
    add_k = np.concatenate([
        np.full(n_res, kinds.index("support_resolved"), dtype=np.int16),
        np.full(int(answers.sum()), kinds.index("csat_response"), dtype=np.int16),
    ])
    add_t = np.concatenate([resolved_us[keep], csat_us[answers]])
    add_v = np.concatenate([np.full(n_res, np.nan), csat[answers]])
    ticket = events.property("ticket")
    add_ticket = np.concatenate([ticket.codes[rows], np.full(int(answers.sum()), -1, np.int32)])
    customer = np.concatenate([events.customer, add_c.astype(np.int32)])
    time = np.concatenate([events.time.view(np.int64), add_t])
    order = np.lexsort((time, customer))  # stable: existing events keep their order
    size = len(add_c)

    def extend(column: Categorical, extra: npt.NDArray[np.int32]) -> Categorical:
        return Categorical(np.concatenate([column.codes, extra])[order], column.categories)

    missing = np.full(size, -1, dtype=np.int32)
    properties = {
        name: extend(col, add_ticket.astype(np.int32) if name == "ticket" else missing)
        for name, col in events.properties.items()
    }
    return EventTable(
        customer[order],
        np.concatenate([events.kind, add_k])[order],
        time[order].view("datetime64[us]"),
        np.concatenate([events.value, add_v])[order],
        properties,
        kinds,
        events.n_customers,
    )


# --------------------------------------------------------------------------- helpers


def _non_negative_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(f"{field} must be a non-negative integer, got {value!r}")
    number = operator.index(value)
    if number < 0:
        raise ValidationError(f"{field} must be a non-negative integer, got {value!r}")
    return number


def _ids(prefix: str, n: int, min_width: int) -> npt.NDArray[np.str_]:
    """``prefix`` + zero-padded 0..n-1, built from code points (no per-id Python loop)."""
    width = max(min_width, len(str(max(n - 1, 0))))
    total = len(prefix) + width
    chars = np.empty((n, total), dtype=np.uint32)
    chars[:, : len(prefix)] = np.frombuffer(prefix.encode("utf-32-le"), dtype=np.uint32)
    number = np.arange(n, dtype=np.int64)
    for position in range(total - 1, len(prefix) - 1, -1):
        chars[:, position] = 48 + number % 10
        number //= 10
    return chars.view(f"<U{total}").reshape(n)


def _to_time(days: FloatArray, origin_us: int) -> npt.NDArray[np.datetime64]:
    return (origin_us + np.floor(days * _DAY_US).astype(np.int64)).view("datetime64[us]")


def _categorical(codes: IntArray | npt.NDArray[np.int32], labels: tuple[str, ...]) -> Categorical:
    """A Categorical from codes into ``labels`` (in any order; re-coded to sorted order)."""
    order = sorted(range(len(labels)), key=labels.__getitem__)
    remap = np.empty(len(labels) + 1, dtype=np.int32)
    remap[np.asarray(order)] = np.arange(len(labels), dtype=np.int32)
    remap[-1] = -1
    return Categorical(remap[codes], tuple(labels[i] for i in order))


def _pick(rng: np.random.Generator, weights: FloatArray) -> IntArray:
    """One column index per row, drawn with probability proportional to the row's weights."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    picked: IntArray = (u[:, None] >= cum[:, :-1]).sum(axis=1).astype(np.int64)
    return picked


def _group_rank(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For items laid out group by group: each item's group and its rank in the group."""
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(len(owner), dtype=np.int64) - starts[owner]


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out


_ADJECTIVES: Final = (
    "Blue", "Bright", "Clear", "Crimson", "Golden", "Green", "Silver", "North", "Swift",
    "Quiet", "Bold", "Prime", "Urban", "Rapid", "Summit", "Harbor", "Iron", "Lucky",
    "Maple", "Polar", "Solar", "Cedar", "Copper", "Coral",
)  # fmt: skip
_NOUNS: Final = (
    "Peak", "River", "Fox", "Oak", "Wave", "Stone", "Bridge", "Field", "Forge", "Lane",
    "Mill", "Pine", "Ridge", "Sail", "Spark", "Star", "Tide", "Vale", "Wind", "Works",
    "Orbit", "Pixel", "Beacon", "Anchor",
)  # fmt: skip
_SUFFIXES: Final = (
    "Labs", "Inc", "Analytics", "Systems", "Media", "Studio", "Logistics", "Health",
    "Partners", "Software", "Foods", "Retail",
)  # fmt: skip


def _names(n: int, rng: np.random.Generator) -> npt.NDArray[np.object_]:
    """Company names such as 'Blue Fox Analytics': shared str objects, indexed."""
    combos = np.array(
        [f"{a} {b} {c}" for a in _ADJECTIVES for b in _NOUNS for c in _SUFFIXES], dtype=object
    )
    return combos[rng.integers(0, len(combos), size=n)]


# --------------------------------------------------------------------------- customers


@attrs.frozen(slots=True, eq=False)
class _Population:
    """Per-customer draws (arrays of length n; times in days since the origin)."""

    n: int
    signup: FloatArray
    segment: IntArray  # index into SEGMENTS
    plan: IntArray  # index into PLANS, at signup
    seats: IntArray
    health: FloatArray  # the hidden health level
    slow: FloatArray  # log factor on support response times
    never_onboarded: BoolArray
    pay_prone: BoolArray
    nps_respondent: BoolArray
    activity: FloatArray  # relative session rate


def _population(n: int, rng: np.random.Generator) -> _Population:
    u = rng.random(n)
    growth = np.log(3.0)  # three times as many signups a day at the end as at the start
    signup = np.log1p(u * np.expm1(growth)) / growth * _SPAN_DAYS
    segment = _pick(rng, np.tile([0.70, 0.22, 0.08], (n, 1)))
    plan_weights = np.array(
        [[0.55, 0.35, 0.10, 0.00], [0.10, 0.45, 0.40, 0.05], [0.00, 0.05, 0.35, 0.60]]
    )
    plan = _pick(rng, plan_weights[segment])
    smb = rng.geometric(0.45, n).astype(np.float64)
    mid = np.rint(rng.lognormal(np.log(12.0), 0.5, n))
    ent = np.rint(rng.lognormal(np.log(60.0), 0.6, n))
    seats = np.choose(segment, [smb, mid, ent]).clip(1, None).astype(np.int64)
    health = rng.standard_normal(n) + np.array([0.0, 0.15, 0.3])[segment]
    slow = rng.normal(0.0, 0.6, n)
    never_onboarded = rng.random(n) < _sigmoid(-2.3 - 0.9 * health)
    pay_prone = rng.random(n) < 0.08 * np.exp(-0.3 * health)
    nps_respondent = rng.random(n) < _NPS_SHARE
    segment_usage = np.array([1.0, 1.4, 2.0])[segment]
    activity = (
        rng.gamma(_ACTIVITY_SHAPE, 1.0 / _ACTIVITY_SHAPE, n)
        * np.exp(_ACTIVITY_HEALTH * health)
        * segment_usage
    )
    return _Population(
        n, signup, segment, plan, seats, health, slow, never_onboarded, pay_prone,
        nps_respondent, activity,
    )  # fmt: skip


@attrs.frozen(slots=True, eq=False)
class _Intervals:
    """Periods during which a customer pays: the first one, and a reactivation for some.

    Sorted by (customer, start). Times in days since the origin; ``stop`` is the churn
    time, or the end of the history when the period is still running. Usage decays on
    ``[decay_start, silent_start)`` and stops on ``[silent_start, stop)`` (both equal to
    ``stop`` when the period does not end in a voluntary cancellation that decays).
    """

    customer: IntArray
    start: FloatArray
    stop: FloatArray
    churns: BoolArray
    involuntary: BoolArray
    first: BoolArray
    decay_start: FloatArray
    silent_start: FloatArray

    def __len__(self) -> int:
        return len(self.customer)


def _intervals(pop: _Population, rng: np.random.Generator) -> _Intervals:
    n = pop.n
    segment_hazard = np.array([1.25, 0.8, 0.45])[pop.segment]
    voluntary = (
        0.022 / 30.0
        * np.exp(-0.85 * pop.health)
        * segment_hazard
        * np.exp(0.9 * pop.slow)
        * np.where(pop.never_onboarded, 2.5, 1.0)
        * np.where(pop.pay_prone, 1.5, 1.0)  # money trouble
    )
    t_vol = pop.signup + 14.0 + rng.exponential(1.0, n) / voluntary
    # young accounts churn more: an extra hazard (as big again) over the first 120 days
    t_young = pop.signup + 14.0 + rng.exponential(1.0, n) / voluntary
    t_vol = np.where(t_young < pop.signup + 120.0, np.minimum(t_vol, t_young), t_vol)
    early = pop.never_onboarded & (rng.random(n) < 0.5)
    t_vol = np.where(early, np.minimum(t_vol, pop.signup + rng.uniform(60, 200, n)), t_vol)
    involuntary_hazard = np.where(pop.pay_prone, 0.06, 0.0015) / 30.0
    t_inv = pop.signup + 20.0 + rng.exponential(1.0, n) / involuntary_hazard
    churn = np.minimum(t_vol, t_inv)
    churned = churn < _SPAN_DAYS
    involuntary = churned & (t_inv < t_vol)

    # Reactivation: a churned customer pays again later (failed cards are often fixed).
    p_back = np.where(involuntary, 0.30, 0.06)
    gap = np.where(involuntary, rng.uniform(3, 45, n), rng.uniform(30, 365, n))
    back = churned & (rng.random(n) < p_back) & (churn + gap < _SPAN_DAYS - 1.0)
    r_start = (churn + gap)[back]
    r_churn = r_start + 14.0 + rng.exponential(1.0, int(back.sum())) / (1.2 * voluntary[back])

    customer = np.concatenate([np.arange(n), np.flatnonzero(back)])
    start = np.concatenate([pop.signup, r_start])
    raw_stop = np.concatenate([churn, r_churn])
    order = np.argsort(customer, kind="stable")  # a reactivation follows its first period
    customer = customer[order]
    start = start[order]
    churns = raw_stop[order] < _SPAN_DAYS
    stop = np.minimum(raw_stop[order], _SPAN_DAYS)
    n_back = int(back.sum())
    inv = np.concatenate([involuntary, np.zeros(n_back, dtype=bool)])[order]
    first = np.concatenate([np.ones(n, dtype=bool), np.zeros(n_back, dtype=bool)])[order]

    # Before a voluntary cancellation usage decays for weeks, then stops altogether.
    m = len(customer)
    decays = churns & ~inv & (rng.random(m) < 0.85)
    silent = np.maximum(start, stop - rng.uniform(7, 30, m))
    decay = np.maximum(start, silent - rng.uniform(21, 105, m))
    return _Intervals(
        customer, start, stop, churns, inv, first,
        np.where(decays, decay, stop), np.where(decays, silent, stop),
    )  # fmt: skip


# --------------------------------------------------------------------------- subscriptions


class _Subscriptions(NamedTuple):
    table: SubscriptionTable
    last_plan: IntArray  # each customer's latest plan (index into PLANS)


def _mrr(plan: IntArray, seats: IntArray) -> FloatArray:
    mrr = np.asarray(SEAT_PRICES)[plan] * seats
    return np.where(plan == 3, np.maximum(mrr, _MIN_ENTERPRISE_MRR), mrr)


def _subscriptions(
    pop: _Population, iv: _Intervals, rng: np.random.Generator, origin_us: int
) -> _Subscriptions:
    m = len(iv)
    health = pop.health[iv.customer]
    length = iv.stop - iv.start
    # Up to two plan changes a period (about one every four years), plus for some
    # voluntary churners a downgrade in the weeks before they leave (contraction first).
    lo, hi = iv.start + 30.0, iv.stop - 1.0
    room = hi > lo
    changes = np.where(room, np.minimum(rng.poisson(np.maximum(length, 0) / (4 * 365.0)), 2), 0)
    times = np.full((m, 3), np.inf)
    u = rng.random((m, 2))
    for j in range(2):
        times[:, j] = np.where(changes > j, lo + u[:, j] * (hi - lo), np.inf)
    up = rng.random((m, 3)) < _sigmoid(0.3 + 1.2 * health)[:, None]
    down_path = (
        room & iv.churns & ~iv.involuntary & (rng.random(m) < 0.25 * _sigmoid(-health))
    )
    t_down = np.clip(iv.stop - rng.uniform(20, 90, m), lo, hi)
    times[:, 2] = np.where(down_path, t_down, np.inf)
    up[:, 2] = False
    forced = np.zeros((m, 3), dtype=bool)
    forced[:, 2] = True
    order = np.argsort(times, axis=1, kind="stable")
    times = np.take_along_axis(times, order, axis=1)
    up = np.take_along_axis(up, order, axis=1)
    forced = np.take_along_axis(forced, order, axis=1)

    # A comeback resumes on the plan its customer held when leaving; periods of one
    # customer are consecutive rows, so the chain is computed twice.
    plans = np.empty((m, 4), dtype=np.int64)
    plans[:, 0] = pop.plan[iv.customer]
    comeback = np.flatnonzero(~iv.first)
    for _ in range(2 if comeback.size else 1):
        for j in range(3):
            step = np.where(up[:, j], 1, -1)
            nxt = plans[:, j] + step
            outside = (nxt < 0) | (nxt > 3)
            # a random move at the edge goes the other way; a forced downgrade from the
            # cheapest plan does not happen
            bounced = np.where(forced[:, j], plans[:, j], plans[:, j] - step)
            moved = np.where(outside, bounced, nxt)
            plans[:, j + 1] = np.where(np.isfinite(times[:, j]), moved, plans[:, j])
        k_all = np.isfinite(times).sum(axis=1)
        plans[comeback, 0] = plans[comeback - 1, k_all[comeback - 1]]
    # drop changes that changed nothing (they repeat the previous state)
    real = np.isfinite(times) & (plans[:, 1:] != plans[:, :-1])
    order = np.argsort(~real, axis=1, kind="stable")
    times = np.take_along_axis(np.where(real, times, np.inf), order, axis=1)
    plans[:, 1:] = np.take_along_axis(plans[:, 1:], order, axis=1)
    k = real.sum(axis=1)

    owner, rank = _group_rank(k + 1)
    row_start = np.where(rank == 0, iv.start[owner], times[owner, np.maximum(rank - 1, 0)])
    last = rank == k[owner]
    row_stop = np.where(last, iv.stop[owner], times[owner, np.minimum(rank, 2)])
    ended = ~last | iv.churns[owner]
    row_plan = plans[owner, rank]
    seats = pop.seats[iv.customer[owner]]

    # Cancel reasons: given by about 60 % of voluntary churners, shaped by their story.
    cust = iv.customer
    weights = np.tile(np.asarray(_REASON_WEIGHTS), (m, 1))
    weights[:, 4] *= np.exp(1.8 * pop.slow[cust])  # poor_support
    weights[:, 3] *= np.where(pop.never_onboarded[cust], 4.0, 1.0)  # no_longer_needed
    weights[:, 5] *= np.where(pop.segment[cust] == 0, 1.5, 0.7)  # price
    reason = _pick(rng, weights)
    gives = iv.churns & ~iv.involuntary & (rng.random(m) < 0.6)
    reason = np.where(gives, reason, -1)
    row_reason = np.where(last & iv.churns[owner], reason[owner], -1)

    started = _to_time(row_start, origin_us)
    stopped = _to_time(row_stop, origin_us)
    stopped[~ended] = np.datetime64("NaT")
    n_rows = len(owner)
    table = SubscriptionTable(
        _ids("sub_", n_rows, 7),
        iv.customer[owner].astype(np.int32),
        _categorical(row_plan, PLANS),
        _mrr(row_plan, seats),
        Categorical(np.zeros(n_rows, dtype=np.int32), ("USD",)),
        started,
        stopped,
        _categorical(row_reason, CANCEL_REASONS),
        pop.n,
    )
    last_plan = np.empty(pop.n, dtype=np.int64)
    last_plan[iv.customer[owner]] = row_plan  # the latest row of each customer wins
    return _Subscriptions(table, last_plan)


# --------------------------------------------------------------------------- events


class _Parts:
    """Event columns collected kind by kind, then concatenated."""

    def __init__(self) -> None:
        self.interval: list[IntArray] = []
        self.kind: list[npt.NDArray[np.int16]] = []
        self.time: list[FloatArray] = []
        self.value: list[FloatArray] = []
        self.feature: list[npt.NDArray[np.int32]] = []
        self.channel: list[npt.NDArray[np.int32]] = []
        self.ticket: list[IntArray] = []

    def add(
        self,
        interval: IntArray,
        kind: str,
        time: FloatArray,
        *,
        value: FloatArray | None = None,
        feature: npt.NDArray[np.int32] | None = None,
        channel: npt.NDArray[np.int32] | None = None,
        ticket: IntArray | None = None,
    ) -> None:
        size = len(interval)
        self.interval.append(interval)
        self.kind.append(np.full(size, _KIND[kind], dtype=np.int16))
        self.time.append(time)
        self.value.append(np.full(size, np.nan) if value is None else value)
        missing = np.full(size, -1, dtype=np.int32)
        self.feature.append(missing if feature is None else feature)
        self.channel.append(missing if channel is None else channel)
        self.ticket.append(np.full(size, -1, dtype=np.int64) if ticket is None else ticket)


def _poisson_times(
    rng: np.random.Generator, a: FloatArray, b: FloatArray, rate: FloatArray
) -> tuple[IntArray, FloatArray]:
    """A Poisson process of ``rate`` a day on each ``[a, b)``: (owner row, time) per point."""
    span = np.maximum(b - a, 0.0)
    owner, _ = _group_rank(rng.poisson(rate * span))
    return owner, a[owner] + rng.random(len(owner)) * span[owner]


def _regular_times(
    rng: np.random.Generator, a: FloatArray, b: FloatArray, rate: FloatArray
) -> tuple[IntArray, FloatArray]:
    """Sessions on a rhythm: about ``rate`` a day on each ``[a, b)``, one every
    ``1 / rate`` days from a random phase, each moved by up to a third of the period
    (teams use a tool on a weekly or monthly rhythm, not at memoryless random times)."""
    span = np.maximum(b - a, 0.0)
    phase = rng.random(len(a))
    owner, rank = _group_rank(np.floor(span * rate + phase).astype(np.int64))
    period = 1.0 / np.maximum(rate[owner], 1e-12)
    jitter = rng.uniform(-1.0 / 3.0, 1.0 / 3.0, len(owner))
    t = a[owner] + (rank + 1.0 - phase[owner] + jitter) * period
    return owner, np.clip(t, a[owner], np.nextafter(b[owner], -np.inf))


class _Block(NamedTuple):
    """The events of one block of customers, sorted by (customer, time)."""

    customer: npt.NDArray[np.int32]
    kind: npt.NDArray[np.int16]
    time: IntArray  # microseconds since the origin
    value: FloatArray
    feature: npt.NDArray[np.int32]  # index into FEATURES, -1 for none
    channel: npt.NDArray[np.int32]  # code into _CHANNELS, -1 for none
    ticket: npt.NDArray[np.int32]  # ticket number within the block, -1 for none


_T = TypeVar("_T", bound=np.generic)


def _join(parts: list[npt.NDArray[_T]], dtype: type[_T]) -> npt.NDArray[_T]:
    """Concatenate and empty ``parts`` (so each block's memory is freed as soon as it can)."""
    out = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
    parts.clear()
    return out


def _events(
    pop: _Population, iv: _Intervals, seed: int, origin_us: int, origin_day: float
) -> EventTable:
    n = pop.n
    bounds = np.searchsorted(iv.customer, np.arange(0, n + _BLOCK, _BLOCK).clip(0, n))
    quarters = _quarter_starts(origin_us)
    customer: list[npt.NDArray[np.int32]] = []
    kind: list[npt.NDArray[np.int16]] = []
    time: list[IntArray] = []
    value: list[FloatArray] = []
    feature: list[npt.NDArray[np.int32]] = []
    channel: list[npt.NDArray[np.int32]] = []
    ticket: list[npt.NDArray[np.int32]] = []
    tickets = 0
    for block, (i, j) in enumerate(itertools.pairwise(bounds.tolist())):
        if i == j:
            continue
        rng = np.random.default_rng([seed, 4, block])
        part = _block_events(pop, iv, slice(i, j), rng, quarters, origin_day)
        part.ticket[part.ticket >= 0] += tickets  # number tickets across blocks
        tickets += int(np.count_nonzero(part.kind == _KIND["support_request"]))
        part.time[:] += origin_us
        customer.append(part.customer)
        kind.append(part.kind)
        time.append(part.time)
        value.append(part.value)
        feature.append(part.feature)
        channel.append(part.channel)
        ticket.append(part.ticket)
        del part
    ticket_ids = tuple(_ids("T", tickets, 7).tolist())
    feature_index = _join(feature, np.int32)
    return EventTable(
        _join(customer, np.int32),
        _join(kind, np.int16),
        _join(time, np.int64).view("datetime64[us]"),
        _join(value, np.float64),
        {
            "channel": Categorical(_join(channel, np.int32), _CHANNELS),
            "feature": _categorical(feature_index, FEATURES),
            "ticket": Categorical(_join(ticket, np.int32), ticket_ids),
        },
        BUILTIN_KINDS,
        n,
    )


def _quarter_starts(origin_us: int) -> FloatArray:
    """Days since the origin of each calendar quarter's first day in the history."""
    first = np.datetime64(int(origin_us), "us").astype("datetime64[M]")
    months = np.arange(first, first + int(_SPAN_DAYS / 30) + 3, dtype="datetime64[M]")
    months = months[months.astype(np.int64) % 3 == 0]  # Jan, Apr, Jul, Oct
    days = (months.astype("datetime64[us]").astype(np.int64) - origin_us) / _DAY_US
    within: FloatArray = days[(days >= 0) & (days < _SPAN_DAYS)]
    return within


def _block_events(
    pop: _Population,
    iv: _Intervals,
    rows: slice,
    rng: np.random.Generator,
    quarters: FloatArray,
    origin_day: float,
) -> _Block:
    """Events of the intervals ``rows`` (whole customers), sorted by (customer, time)."""
    cust = iv.customer[rows]
    start, stop = iv.start[rows], iv.stop[rows]
    decay_start, silent_start = iv.decay_start[rows], iv.silent_start[rows]
    first = iv.first[rows]
    health = pop.health[cust]
    never = pop.never_onboarded[cust] & first
    segment = pop.segment[cust]
    parts = _Parts()

    # --- sessions: onboarding (90 days), steady use, then a linear decay before churning
    rate = _SESSION_RATE * pop.activity[cust]
    onboard_end = np.where(first, np.minimum(start + 90.0, decay_start), start)
    steady = np.maximum(onboard_end, start)
    # onboarding is busy for everyone who onboards (set-up, training, first projects)
    onboarding = _SESSION_RATE * np.where(never, 0.03, _ONBOARDING_BOOST) * np.sqrt(
        pop.activity[cust]
    )
    owner_a, t_a = _poisson_times(rng, start, onboard_end, onboarding)
    owner_b, t_b = _regular_times(rng, steady, decay_start, rate * np.where(never, 0.3, 1.0))
    width = np.maximum(silent_start - decay_start, 0.0)
    tri = rate * np.where(never, 0.3, 1.0) * width / 2.0
    owner_c, _ = _group_rank(rng.poisson(tri))
    t_c = silent_start[owner_c] - width[owner_c] * np.sqrt(rng.random(len(owner_c)))
    s_owner = np.concatenate([owner_a, owner_b, owner_c])
    s_time = np.concatenate([t_a, t_b, t_c])
    weekday = np.floor(origin_day + s_time).astype(np.int64) % 7  # 0 = Thursday
    weekend = (weekday == 2) | (weekday == 3)
    keep = ~weekend | (rng.random(len(s_time)) < 0.35)
    s_owner, s_time = s_owner[keep], s_time[keep]
    s_stop = stop[s_owner]
    parts.add(s_owner, "login", s_time)
    minute = 1.0 / 1440.0
    has_view = rng.random(len(s_time)) < _VIEW_SHARE
    t_view = s_time + rng.exponential(1.5 * minute, len(s_time))
    has_view &= t_view < s_stop
    parts.add(s_owner[has_view], "page_view", t_view[has_view])
    has_feature = rng.random(len(s_time)) < _FEATURE_SHARE
    t_feat = s_time + rng.exponential(4.0 * minute, len(s_time))
    has_feature &= t_feat < s_stop
    breadth = np.clip(
        np.rint(2.0 + 1.2 * health + pop.plan[cust] + rng.normal(0, 1, len(cust))), 1, 8
    )
    f_owner = s_owner[has_feature]
    favourite = np.floor(rng.random(len(f_owner)) ** 1.5 * breadth[f_owner]).astype(np.int64)
    explore = rng.random(len(f_owner)) < 0.08
    feature = np.where(explore, rng.integers(0, len(FEATURES), len(f_owner)), favourite)
    parts.add(f_owner, "feature_used", t_feat[has_feature], feature=feature.astype(np.int32))
    seconds = np.rint(rng.lognormal(np.log(420.0), 0.9, len(s_time)))
    t_site = s_time + seconds / 86400.0
    has_site = (rng.random(len(s_time)) < _SITE_SHARE) & (t_site < s_stop)
    parts.add(s_owner[has_site], "time_on_site", t_site[has_site], value=seconds[has_site])

    # --- email funnel: sent -> opened -> clicked
    e_owner, t_sent = _poisson_times(rng, start, stop, np.full(len(cust), _EMAIL_RATE))
    parts.add(e_owner, "email_sent", t_sent)
    p_open = np.clip(0.32 + 0.1 * health[e_owner], 0.05, 0.8)
    t_open = t_sent + rng.exponential(0.3, len(t_sent))
    opened = (rng.random(len(t_sent)) < p_open) & (t_open < _SPAN_DAYS)
    parts.add(e_owner[opened], "email_open", t_open[opened])
    t_click = t_open + rng.exponential(3.0 * minute, len(t_sent))
    clicked = opened & (rng.random(len(t_sent)) < 0.25) & (t_click < _SPAN_DAYS)
    parts.add(e_owner[clicked], "email_click", t_click[clicked])

    # --- add-on purchases (each after a cart_add) and abandoned carts
    buy_rate = _PURCHASE_RATE * np.exp(0.4 * health) * np.array([1.0, 1.3, 1.6])[segment]
    p_owner, t_buy = _poisson_times(rng, start, stop, buy_rate)
    t_cart = np.maximum(t_buy - rng.exponential(10.0 * minute, len(t_buy)), start[p_owner])
    price = np.array([29.0, 49.0, 99.0, 149.0, 299.0, 499.0])[
        rng.integers(0, 6, len(t_buy))
    ] * np.array([1.0, 2.0, 5.0])[segment[p_owner]]
    parts.add(p_owner, "cart_add", t_cart)
    parts.add(p_owner, "purchase", t_buy, value=price)
    c_owner, t_abandon = _poisson_times(rng, start, stop, np.full(len(cust), _CART_RATE))
    parts.add(c_owner, "cart_add", t_abandon)

    # --- support: a request per ticket, a reply after a channel-typical delay (or none)
    support_rate = (
        _SUPPORT_RATE * np.exp(-0.3 * health) * np.array([1.0, 1.5, 2.5])[segment]
    )
    r_owner, t_req = _poisson_times(rng, start, stop, support_rate)
    # struggling customers ask for help more often in the weeks before they leave
    r_extra, t_extra = _poisson_times(rng, decay_start, stop, 1.5 * support_rate)
    r_owner, t_req = np.concatenate([r_owner, r_extra]), np.concatenate([t_req, t_extra])
    mix = np.array([[0.30, 0.45, 0.15, 0.10], [0.30, 0.45, 0.20, 0.05], [0.25, 0.40, 0.33, 0.02]])
    channel = _pick(rng, mix[segment[r_owner]]).astype(np.int32)  # into _CHANNELS
    # median response seconds: chat 50 s, email 5 h, phone 2.5 min, social 3 h
    median = np.array([50.0, 5 * 3600.0, 150.0, 3 * 3600.0])[channel]
    sigma = np.array([0.7, 1.4, 0.8, 1.0])[channel]
    # support friction: slower answers and more silence in the weeks before a churner leaves
    slow = pop.slow[cust][r_owner] + np.where(t_req >= decay_start[r_owner], 0.9, 0.0)
    noise = sigma * rng.standard_normal(len(t_req))
    response = np.maximum(np.rint(median * np.exp(slow + noise)), 1.0)
    t_reply = t_req + response / 86400.0
    answered = (rng.random(len(t_req)) >= np.clip(0.04 * np.exp(1.5 * slow), 0, 0.6)) & (
        t_reply < _SPAN_DAYS
    )
    ticket = np.arange(len(t_req), dtype=np.int64)
    parts.add(r_owner, "support_request", t_req, channel=channel, ticket=ticket)
    parts.add(
        r_owner[answered], "support_reply", t_reply[answered],
        channel=channel[answered], ticket=ticket[answered],
    )  # fmt: skip

    # --- NPS: quarterly surveys, answered by some customers some quarters
    respondent = pop.nps_respondent[cust]
    q_lo = np.searchsorted(quarters, start + 30.0)
    q_hi = np.searchsorted(quarters, stop)
    n_q = np.where(respondent, np.maximum(q_hi - q_lo, 0), 0)
    q_owner, q_rank = _group_rank(n_q)
    t_nps = quarters[q_lo[q_owner] + q_rank] + 1.0 + rng.exponential(3.0, len(q_owner))
    answers = (rng.random(len(q_owner)) < _NPS_ANSWER) & (t_nps < stop[q_owner])
    q_owner, t_nps = q_owner[answers], t_nps[answers]
    score = (
        7.7
        + 1.5 * health[q_owner]
        - 0.8 * pop.slow[cust][q_owner]
        - 2.5 * (t_nps >= decay_start[q_owner])
        - 1.5 * never[q_owner]
        + rng.normal(0.0, 1.6, len(q_owner))
    )
    parts.add(q_owner, "nps_response", t_nps, value=np.clip(np.rint(score), 0, 10))

    # --- referrals, mostly by healthy customers after their first two months
    ref_rate = _REFERRAL_RATE * np.exp(0.9 * health)
    f_owner2, t_ref = _poisson_times(rng, np.minimum(start + 60.0, stop), stop, ref_rate)
    parts.add(f_owner2, "referral", t_ref)

    # --- failed payments: occasional (recovered) ones, and the dunning run before
    # involuntary churn
    pay_rate = np.where(pop.pay_prone[cust], 2.0 / 365.0, 0.05 / 365.0)
    y_owner, t_fail = _poisson_times(rng, np.minimum(start + 30.0, stop), stop, pay_rate)
    parts.add(y_owner, "payment_failed", t_fail)
    dunning = iv.involuntary[rows]
    d_owner, d_rank = _group_rank(np.where(dunning, rng.integers(2, 5, len(cust)), 0))
    t_dun = stop[d_owner] - d_rank * 7.0 - rng.uniform(0.1, 1.0, len(d_owner))
    ok = t_dun >= start[d_owner]
    parts.add(d_owner[ok], "payment_failed", t_dun[ok])

    # --- assemble, sort by (customer, time) within the block
    owner = np.concatenate(parts.interval)
    customer = cust[owner].astype(np.int32)
    kind = np.concatenate(parts.kind)
    time_days = np.concatenate(parts.time)
    time_us = np.minimum(
        np.floor(time_days * _DAY_US).astype(np.int64), int(_SPAN_DAYS * _DAY_US) - 1
    )
    value = np.concatenate(parts.value)
    feature_col = np.concatenate(parts.feature)
    channel_col = np.concatenate(parts.channel)
    ticket_col = np.concatenate(parts.ticket)
    local = (customer - customer.min()).astype(np.int64) if len(customer) else customer
    order = np.argsort((local << _TIME_BITS) | time_us, kind="stable")
    c_s, t_s = customer[order], time_us[order]
    if np.any((c_s[1:] == c_s[:-1]) & (t_s[1:] == t_s[:-1])):
        # Break exact ties as Dataset.from_columns does, so a round trip is identical.
        order = np.lexsort(
            (ticket_col, _categorical_order(feature_col), channel_col, value, kind, time_us,
             customer)
        )  # fmt: skip
    return _Block(
        customer[order],
        kind[order],
        time_us[order],
        value[order],
        feature_col[order],
        channel_col[order],
        ticket_col[order].astype(np.int32),
    )


def _categorical_order(codes: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Feature codes (indexes into FEATURES) as codes into the sorted categories."""
    return _categorical(codes, FEATURES).codes
