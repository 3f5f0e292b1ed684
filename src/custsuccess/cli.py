"""The ``custsuccess`` command (also ``python -m custsuccess``).

Subcommands are registered in :data:`COMMANDS`: each entry adds its own argparse
sub-parser and names the function that runs it, so a new subcommand (``score``,
``metrics``, ``churn``, ``plugins``) is one more function and one more entry.

``custsuccess demo [--customers N] [--seed S]`` builds the seeded demo dataset
(:func:`custsuccess.demo.generate`) and prints a summary of it: customers, active
subscriptions and their MRR at the end of the history, churned customers, and the
events by kind.

>>> main(["demo", "--customers", "50", "--seed", "2"])  # doctest: +ELLIPSIS
custsuccess demo: 50 customers, seed 2, history up to 2026-10-31 00:00 UTC
  customers                               50
  active subscriptions                   ...
0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, TextIO

from custsuccess import __version__
from custsuccess.errors import CustSuccessError

if TYPE_CHECKING:
    from custsuccess.dataset import Dataset

__all__ = ["COMMANDS", "Command", "DemoSummary", "build_parser", "main", "summarize"]

Handler = Callable[[argparse.Namespace, TextIO], int]


class Command(NamedTuple):
    """A subcommand: its name, one-line help, and functions to configure and run it."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Handler


# --------------------------------------------------------------------------- demo


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


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--customers",
        type=_non_negative_int,
        default=5000,
        metavar="N",
        help="number of customers to generate (default: 5000)",
    )
    parser.add_argument(
        "--seed", type=_non_negative_int, default=0, metavar="S", help="random seed (default: 0)"
    )


def _run_demo(args: argparse.Namespace, out: TextIO) -> int:
    from custsuccess.dataset import to_datetime64
    from custsuccess.demo import DEFAULT_END, generate

    dataset = generate(args.customers, args.seed)
    end = to_datetime64(DEFAULT_END, "end")
    summary = summarize(dataset.until(end - 1))
    stamp = str(end.astype("datetime64[m]")).replace("T", " ")
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
        f"history up to {stamp} UTC"
    ]
    lines += [f"  {label:<26}{text:>16}" for label, text in rows]
    print("\n".join(lines), file=out)
    return 0


# --------------------------------------------------------------------------- wiring

#: The subcommands, in the order ``--help`` lists them.
COMMANDS: tuple[Command, ...] = (
    Command(
        "demo",
        "generate the demo dataset and print a summary of it",
        _configure_demo,
        _run_demo,
    ),
)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="custsuccess",
        description="Customer-success numbers for SaaS: health, churn, retention, revenue.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(child)
        child.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Usage errors exit with status 2 (argparse's convention); invalid input found while
    running prints one line ``custsuccess: error: ...`` and returns 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args, sys.stdout)
    except CustSuccessError as exc:
        print(f"custsuccess: error: {exc}", file=sys.stderr)
        return 2
