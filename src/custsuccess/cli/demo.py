"""``custsuccess demo``: generate the demo dataset, save it and print a
customer-success report."""

from __future__ import annotations

import argparse
import math
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TextIO

from custsuccess.cli.options import (
    DEFAULT_AS_OF_RULE,
    EXIT_OK,
    Command,
    UsageError,
    default_as_of,
    default_store_path,
    non_negative_int,
)
from custsuccess.cli.output import (
    OutputError,
    Progress,
    money,
    pct,
    printable,
    stamp,
    text_table,
)
from custsuccess.errors import CustSuccessError
from custsuccess.io.csvfiles import write_csv_dataset

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

    from custsuccess.churn.records import ChurnRecords
    from custsuccess.churn.survival import KaplanMeier
    from custsuccess.dataset import Dataset
    from custsuccess.health.report import HealthReport
    from custsuccess.metrics.nps import NpsResult
    from custsuccess.plugins import Registry

__all__ = [
    "COMMAND",
    "DEMO_SIZE",
    "AtRisk",
    "DemoReport",
    "DemoSummary",
    "demo_report",
    "previous_period",
    "render_demo_report",
    "summarize",
]


#: Customers ``custsuccess demo`` generates unless ``--demo-size`` says otherwise.
DEMO_SIZE: Final = 5000


class DemoSummary(NamedTuple):
    """The figures ``custsuccess demo`` prints, computed from a dataset."""

    customers: int
    active_subscriptions: int
    mrr: float
    churned_customers: int
    events_by_kind: dict[str, int]


def summarize(dataset: Dataset) -> DemoSummary:
    """Headline figures of ``dataset`` at the last moment it covers.

    "Now" is the dataset's ``as_of`` when it is a view made by ``until``, else the moment
    of its latest event or subscription change. A churned customer had a subscription and
    has none running now.

    >>> from custsuccess.demo import generate
    >>> s = summarize(generate(100, seed=3))
    >>> s.customers, s.active_subscriptions + s.churned_customers <= 100
    (100, True)
    """
    import numpy as np

    subs = dataset.subscriptions
    events = dataset.events
    now = dataset.as_of
    if now is None:
        moments = [events.time, subs.started_at, subs.ended_at[~np.isnat(subs.ended_at)]]
        latest = [m.max() for m in moments if m.size]
        now = max(latest) if latest else np.datetime64(0, "us")
    active = subs.active_at(now)
    paying = np.zeros(dataset.n_customers, dtype=bool)
    paying[subs.customer[active]] = True
    ever = np.zeros(dataset.n_customers, dtype=bool)
    ever[subs.customer[subs.started_at <= now]] = True
    counts = np.bincount(events.kind, minlength=len(events.kinds))
    return DemoSummary(
        customers=dataset.n_customers,
        active_subscriptions=int(active.sum()),
        mrr=float(subs.mrr[active].sum()),
        churned_customers=int((ever & ~paying).sum()),
        events_by_kind={
            kind: int(c) for kind, c in zip(events.kinds, counts.tolist(), strict=True) if c
        },
    )


class AtRisk(NamedTuple):
    """One account of the report's at-risk list."""

    customer_id: str
    name: str | None
    segment: str | None
    mrr: float
    score: float
    tier: str
    reasons: tuple[str, ...]
    playbook: str | None


class DemoReport(NamedTuple):
    """Everything ``custsuccess demo`` prints after the dataset summary."""

    as_of: np.datetime64
    tier_counts: dict[str, int]
    at_risk: tuple[AtRisk, ...]
    nps_period: str
    nps: NpsResult
    month: str
    customers_start: int
    customers_new: int
    customers_lost: int
    customers_end: int
    churn_rate: float
    retention_rate: float
    movements: dict[str, float]
    movement_counts: dict[str, int]
    reasons_since: np.datetime64
    reasons: tuple[tuple[str, int, float, float], ...]  # reason, count, share, MRR lost
    churned: int
    lifetime: KaplanMeier
    #: Per owner (None: no owner): accounts, MRR, MRR-weighted health, MRR at risk.
    books: tuple[tuple[str | None, int, float, float, float], ...] = ()
    #: Renewals in the next 90 days: count, MRR renewing, of it in poor accounts.
    renewals: tuple[int, float, float] = (0, 0.0, 0.0)


def previous_period(as_of: np.datetime64, freq: str) -> np.datetime64:
    """Start of the last calendar period (month or quarter) that ended at or before as_of."""
    import numpy as np

    month = as_of.astype("datetime64[M]")
    if freq == "quarter":
        m = int(month.astype(np.int64))  # months since 1970-01
        month = np.datetime64(m - m % 3, "M")
        step = 3
    else:
        step = 1
    start: np.datetime64 = (month - np.timedelta64(step, "M")).astype("datetime64[us]")
    return start


def _main_reasons(report: HealthReport, row: int, limit: int = 2) -> tuple[str, ...]:
    """The reasons of the rules that pull the account's score down most."""
    explanation = report.explain(str(report.customer_ids[row]))
    out = [
        r.reason for r in explanation.rules
        if r.applicable and r.effect is not None and r.effect < 0 and r.reason
    ]
    return tuple(out[:limit])


def demo_report(
    dataset: Dataset,
    as_of: Any,
    *,
    registry: Registry | None = None,
    report: HealthReport | None = None,
    records: ChurnRecords | None = None,
    progress: Progress | None = None,
) -> DemoReport:
    """The figures of the ``custsuccess demo`` report for ``dataset`` at ``as_of``.

    The health report (``report``, else the default model of ``registry``), the 10
    lowest-scored accounts with their two main reasons and first recommended playbook,
    the NPS of the last full quarter, customer churn and retention of the last full
    month, that month's MRR movements, the churn reasons of the last 12 months with the
    MRR they lost (from ``records``, else :func:`custsuccess.churn.records` at
    ``as_of``), and the Kaplan-Meier curve of customer lifetimes.
    """
    import numpy as np

    from custsuccess import churn, metrics
    from custsuccess.dataset import to_datetime64
    from custsuccess.health import HealthModel
    from custsuccess.plugins import Registry

    step = progress.step if progress is not None else (lambda _d: None)
    t = to_datetime64(as_of, "as_of")
    view = dataset.until(t)
    registry = Registry.default() if registry is None else registry
    if report is None:
        step("scoring health")
        report = HealthModel.default(registry).score(dataset, t)
    step("computing metrics")
    risky = report.at_risk(10)
    mrr_now = metrics.customer_mrr(view, t)
    names = dataset.customers.name
    segments = dataset.customers.segment.decode()
    at_risk = []
    for row in range(len(risky)):
        i = int(risky.index[row])
        playbooks = risky.recommendations(str(risky.customer_ids[row]))
        name = names[i]
        segment = segments[i]
        at_risk.append(AtRisk(
            str(risky.customer_ids[row]), None if name is None else str(name),
            None if segment is None else str(segment), float(mrr_now[i]),
            float(risky.score[row]), str(risky.tier[row]), _main_reasons(risky, row),
            playbooks[0] if playbooks else None,
        ))
    quarter = previous_period(t, "quarter")
    nps = metrics.nps_by_period(view, start=quarter, end=quarter)
    month = previous_period(t, "month")
    flow = metrics.customer_flow(view, start=month, end=month)
    moves = metrics.mrr_movements(view, start=month, end=month)
    kinds = ("new", "expansion", "reactivation", "contraction", "churn")
    movements = {"opening": float(moves.opening[0])}
    movements.update({k: float(getattr(moves, k)[0]) for k in kinds})
    movements["closing"] = float(moves.closing[0])
    counts = dict(zip(metrics.MOVEMENT_KINDS, moves.counts[0].tolist(), strict=True))
    step("analysing churn")
    if records is None:
        records = churn.records(dataset, t, registry=registry)
    since = (t.astype("datetime64[D]") - np.timedelta64(365, "D")).astype("datetime64[us]")
    recent = records.take(records.churned_at > since)
    dist = churn.reason_distribution(recent)
    reasons = tuple(
        (str(r), int(c), float(s), float(m))
        for r, c, s, m in zip(dist.reason, dist.count, dist.share, dist.mrr_lost, strict=True)
    )
    lifetime = churn.lifetimes_from(dataset, t).kaplan_meier()
    from custsuccess.metrics.renewals import upcoming_renewals

    owned = report.by_owner(dataset.until(t))
    books = tuple(
        (k, int(a), float(m), float(h), float(r))
        for k, a, m, h, r in zip(owned.keys.tolist(), owned.accounts.tolist(),
                                 owned.mrr.tolist(), owned.health.tolist(),
                                 owned.mrr_at_risk.tolist(), strict=True)
    )
    coming = upcoming_renewals(report, dataset.until(t), within_days=90)
    renewals = (len(coming), float(coming.mrr.sum()), coming.mrr_poor)
    return DemoReport(
        as_of=t,
        tier_counts=report.tier_counts(),
        at_risk=tuple(at_risk),
        nps_period=nps.periods.labels[0],
        nps=nps[0],
        month=flow.periods.labels[0],
        customers_start=int(flow.customers_start[0]),
        customers_new=int(flow.new[0]),
        customers_lost=int(flow.lost[0]),
        customers_end=int(flow.customers_end[0]),
        churn_rate=float(flow.churn_rate[0]),
        retention_rate=float(flow.retention_rate[0]),
        movements=movements,
        movement_counts={k: int(v) for k, v in counts.items()},
        reasons_since=since,
        reasons=reasons,
        churned=len(recent),
        lifetime=lifetime,
        books=books,
        renewals=renewals,
    )


def render_demo_report(report: DemoReport, *, top_reasons: int = 6) -> str:
    """The report as the text ``custsuccess demo`` prints (after the dataset summary)."""
    lines: list[str] = []
    total = sum(report.tier_counts.values())
    lines.append(f"Health at {stamp(report.as_of)}: {total:,} accounts scored")
    lines.append(text_table(
        ["tier", "accounts", "share"],
        [[tier, f"{n:,}", pct(n / total if total else math.nan)]
         for tier, n in report.tier_counts.items()],
    ))
    lines.append("")
    lines.append(f"The {len(report.at_risk)} accounts most at risk")
    for k, a in enumerate(report.at_risk, 1):
        # text from the data is shown with its control characters escaped
        who = printable(a.customer_id + (f"  {a.name}" if a.name else ""))
        facts = printable(", ".join(x for x in (a.segment, f"MRR {money(a.mrr)}") if x))
        lines.append(f"  {k:>2}. {who} ({facts})  score {a.score:.1f}, {a.tier}")
        lines.append(
            "      why: "
            + printable("; ".join(a.reasons) if a.reasons else "no single rule stands out")
        )
        lines.append(f"      next: {printable(a.playbook or 'no playbook applies')}")
    lines.append("")
    if report.books:
        lines.append("Books of business (MRR-weighted health; MRR of the poor accounts at risk)")
        lines.append(text_table(
            ["owner", "accounts", "MRR", "health", "MRR at risk"],
            [[owner or "(no owner)", f"{a:,}", money(m), f"{h:.1f}", money(r)]
             for owner, a, m, h, r in report.books],
        ))
        count, renewing, poor = report.renewals
        lines.append(
            f"Renewals in the next 90 days: {count:,} contracts, MRR {money(renewing)}, "
            f"of which {money(poor)} in poor accounts"
        )
        lines.append("")
    nps = report.nps
    if nps.n:
        lines.append(
            f"NPS, {report.nps_period}: {nps.score:+.1f} from {nps.n:,} answers "
            f"({nps.promoters:,} promoters, {nps.passives:,} passives, "
            f"{nps.detractors:,} detractors)"
        )
    else:
        lines.append(f"NPS, {report.nps_period}: no answers")
    lines.append("")
    lines.append(f"Customers, {report.month}")
    lines.append(text_table(
        ["at start", "new", "lost", "at end", "churn rate", "retention rate"],
        [[f"{report.customers_start:,}", f"{report.customers_new:,}",
          f"{report.customers_lost:,}", f"{report.customers_end:,}",
          pct(report.churn_rate, 2), pct(report.retention_rate, 2)]],
    ))
    lines.append("")
    lines.append(f"MRR movements, {report.month}")
    rows = [["opening", "", money(report.movements["opening"])]]
    for kind in ("new", "expansion", "reactivation", "contraction", "churn"):
        sign = "-" if kind in ("contraction", "churn") else "+"
        rows.append([kind, f"{report.movement_counts[kind]:,}",
                     sign + money(report.movements[kind])])
    rows.append(["closing", "", money(report.movements["closing"])])
    lines.append(text_table(["movement", "customers", "MRR"], rows))
    lines.append("")
    since = str(report.reasons_since.astype("datetime64[D]"))
    lines.append(
        f"Top churn reasons since {since}: {report.churned:,} customers churned"
    )
    if report.reasons:
        lines.append(text_table(
            ["reason", "customers", "share", "MRR lost"],
            [[r, f"{c:,}", pct(s), money(m)] for r, c, s, m in report.reasons[:top_reasons]],
        ))
    lines.append("")
    km = report.lifetime
    if math.isinf(km.median):
        lines.append(
            f"Median customer lifetime: not reached (over half of {km.n:,} customers "
            "still subscribed)"
        )
    else:
        upper = "not reached" if math.isinf(km.median_upper) else f"{km.median_upper:,.0f}"
        lines.append(
            f"Median customer lifetime: {km.median:,.0f} days (95% CI {km.median_lower:,.0f}"
            f" to {upper}; {km.n:,} customers, {int(km.events.sum()):,} churned)"
        )
    return "\n".join(lines)


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        f"The report is as of {DEFAULT_AS_OF_RULE}: the moment `custsuccess score --db PATH` "
        "and the other commands take by default on the saved data."
    )
    parser.add_argument(
        "--demo-size", type=non_negative_int, default=None, metavar="N",
        help=f"number of customers to generate (default: {DEMO_SIZE})",
    )
    # the old name of --demo-size: elsewhere --customers names a CSV file
    parser.add_argument(
        "--customers", type=non_negative_int, dest="customers_deprecated", metavar="N",
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, metavar="S", help="random seed (default: 0)"
    )
    parser.add_argument(
        "--db", metavar="PATH",
        help=f"save the dataset and its churn records here (default: {default_store_path()})",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="do not save the dataset in a store"
    )
    parser.add_argument(
        "--csv", metavar="DIR",
        help="also write the dataset as customers.csv, subscriptions.csv and events.csv "
        "in DIR (the inputs `custsuccess score --customers ...` reads)",
    )
    parser.add_argument(
        "--plots", metavar="DIR",
        help="also draw the report's figures as PNG files in DIR (needs matplotlib: "
        "pip install 'custsuccess[plot]')",
    )


def _run_demo(args: argparse.Namespace, out: TextIO) -> int:
    import custsuccess.demo
    from custsuccess import churn
    from custsuccess.dataset import to_datetime64
    from custsuccess.health import HealthModel
    from custsuccess.plugins import Registry

    if args.db and args.no_save:
        raise UsageError("--db and --no-save contradict each other")
    if args.plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError(
                "--plots needs matplotlib: pip install 'custsuccess[plot]'"
            ) from None
    size = args.demo_size
    if args.customers_deprecated is not None:
        if size is not None:
            raise UsageError("give --demo-size only (--customers is its old name)")
        print("custsuccess: warning: demo --customers N is deprecated; use --demo-size N",
              file=sys.stderr)
        size = args.customers_deprecated
    size = DEMO_SIZE if size is None else size
    steps = 4 + (not args.no_save) + bool(args.csv) + bool(args.plots)
    with Progress(steps, expected_seconds=size / 2500) as progress:
        progress.step("generating the demo data")
        dataset = custsuccess.demo.generate(size, args.seed)
        # the moment every command takes by default, so `score --db` agrees with this report
        end = default_as_of(dataset) if len(dataset.customer_ids) else to_datetime64(
            custsuccess.demo.DEFAULT_END, "end")
        summary = summarize(dataset.until(end - 1))
        registry = Registry.default()
        records = churn.records(dataset, end, registry=registry)
        saved = None
        if not args.no_save:
            progress.step("saving to the store")
            saved = Path(args.db) if args.db else default_store_path()
            _save_demo(saved, dataset, records, is_cache=not args.db)
        if args.csv:
            progress.step("writing CSV files")
            try:
                written = write_csv_dataset(dataset, args.csv)
            except OSError as exc:
                raise OutputError(f"{args.csv}: cannot write: {exc.strerror or exc}") from None
        progress.step("scoring health")
        health = HealthModel.default(registry).score(dataset, end)
        report = demo_report(
            dataset, end, registry=registry, report=health, records=records, progress=progress
        )
        drawn: list[Path] = []
        if args.plots:
            progress.step("drawing the figures")
            drawn = _draw_demo(Path(args.plots), dataset, end, health)
    rows = [
        ("customers", f"{summary.customers:,}"),
        ("active subscriptions", f"{summary.active_subscriptions:,}"),
        ("MRR (USD)", f"{summary.mrr:,.2f}"),
        ("churned customers", f"{summary.churned_customers:,}"),
        ("events", f"{sum(summary.events_by_kind.values()):,}"),
    ]
    rows += [(f"  {kind}", f"{count:,}") for kind, count in summary.events_by_kind.items()]
    lines = [
        f"custsuccess demo: {summary.customers} customers, seed {args.seed}, "
        f"history up to {stamp(end)}"
    ]
    lines += [f"  {label:<26}{text:>16}" for label, text in rows]
    print("\n".join(lines), file=out)
    print("", file=out)
    if saved is not None:
        print(f"Saved to {saved} (use it with --db)", file=out)
    if args.csv:
        print(f"Wrote {', '.join(str(p) for p in written)}", file=out)
    if drawn:
        print(f"Drew {', '.join(str(p) for p in drawn)}", file=out)
    if saved is not None or args.csv or drawn:
        print("", file=out)
    print(render_demo_report(report), file=out)
    return EXIT_OK


def _draw_demo(
    folder: Path, dataset: Dataset, end: np.datetime64, health: HealthReport
) -> list[Path]:
    """The report's figures as PNG files: health tiers, cohorts of the last 12 months,
    lifetimes by segment, the last full month's MRR movements and NPS per quarter."""
    import numpy as np

    from custsuccess import churn, metrics, plot

    view = dataset.until(end)
    month = previous_period(end, "month")
    year_ago = month.astype("datetime64[M]") - np.timedelta64(11, "M")
    figures: dict[str, Callable[[], Figure]] = {
        "health.png": lambda: plot.health_distribution(health),
        "cohorts.png": lambda: plot.cohort_heatmap(
            metrics.cohort_retention(view, start=year_ago.astype("datetime64[us]"), end=month)
        ),
        "survival.png": lambda: plot.survival_curves(
            churn.lifetimes_from(dataset, end).kaplan_meier_by("segment")
        ),
        "mrr.png": lambda: plot.mrr_waterfall(
            metrics.mrr_movements(view, start=month, end=month)
        ),
        "nps.png": lambda: plot.nps_over_time(metrics.nps_by_period(view, end=end)),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the folder: {exc.strerror}") from None
    paths = []
    for name, draw in figures.items():
        path = folder / name
        try:
            draw().savefig(path, dpi=100)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        paths.append(path)
    return paths


def _save_demo(
    path: Path, dataset: Dataset, records: ChurnRecords, *, is_cache: bool
) -> None:
    """Save the demo data. The default file is a cache: when it is unusable (not a
    database, an older development layout, a newer schema) it is rebuilt; a file the user
    named with --db is never deleted."""
    from custsuccess.store import SQLiteStore, StoreError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot create the folder: {exc.strerror}") from None

    def save() -> None:
        with SQLiteStore(path) as store:
            store.save(dataset)
            store.save_churn_records(records)

    try:
        save()
    except sqlite3.OperationalError as exc:  # read-only, locked, disk full, cannot open
        if not (is_cache and "no such table" in str(exc)):
            raise OutputError(f"{path}: cannot save the demo data: {exc}") from None
        _rebuild_cache(path, save)
    except (StoreError, sqlite3.DatabaseError):
        if not is_cache:
            raise  # the store's own message says what is wrong with the user's file
        _rebuild_cache(path, save)


def _rebuild_cache(path: Path, save: Callable[[], None]) -> None:
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    try:
        save()
    except (sqlite3.DatabaseError, CustSuccessError) as exc:
        raise OutputError(f"{path}: cannot save the demo data: {exc}") from None


#: The subcommand this module runs.
COMMAND: Final = Command(
    "demo",
    "generate the demo dataset, save it and print a customer-success report",
    _configure_demo,
    _run_demo,
)
