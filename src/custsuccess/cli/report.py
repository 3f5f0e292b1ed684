"""``custsuccess report --html FILE``: the review report as one self-contained HTML page
(:mod:`custsuccess.report`)."""

from __future__ import annotations

import argparse
from typing import Final, TextIO

from custsuccess.cli.options import (
    EXIT_OK,
    Command,
    add_config,
    add_source,
    health_model,
    load,
    source_seconds,
)
from custsuccess.cli.output import OutputError, Progress, stamp

__all__ = ["COMMAND"]


def _configure_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--html", metavar="FILE", required=True,
        help="write the report to FILE: one HTML page with its styles and charts inline, "
        "that opens offline and prints",
    )
    add_source(parser)
    add_config(parser)
    parser.add_argument("--title", default="Customer-success review",
                        help="the page's title (default: %(default)s)")


def _run_report(args: argparse.Namespace, out: TextIO) -> int:
    from custsuccess import report
    from custsuccess.plugins import Registry

    with Progress(3, expected_seconds=1 + source_seconds(args) * 5) as progress:
        progress.step("reading the data")
        dataset, as_of = load(args)
        progress.step("computing the review")
        registry = Registry.default()
        model = health_model(args.config, registry)
        figures = report.review(dataset, as_of, model=model, registry=registry)
        progress.step("writing the page")
        page = report.render(figures, title=args.title)
        try:
            with open(args.html, "w", encoding="utf-8") as handle:
                handle.write(page)
        except OSError as exc:
            raise OutputError(f"{args.html}: cannot write: {exc.strerror or exc}") from None
    print(f"Wrote {args.html}: the review as of {stamp(as_of)}, {figures.accounts:,} accounts",
          file=out)
    return EXIT_OK


#: The subcommand this module runs.
COMMAND: Final = Command(
    "report",
    "the review report as one self-contained HTML page (tiers, accounts to call, MRR, NPS, "
    "churn, backtest)",
    _configure_report,
    _run_report,
)
