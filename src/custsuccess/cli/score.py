"""``custsuccess score``: the health score of every account."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from typing import TYPE_CHECKING, Final, TextIO

from custsuccess.cli.options import (
    EXIT_OK,
    Command,
    add_config,
    add_output,
    add_source,
    health_model,
    load,
    non_negative_int,
    source_seconds,
)
from custsuccess.cli.output import (
    Progress,
    clean,
    iso,
    open_output,
    stamp,
    text_table,
    write_csv,
    write_json,
)

if TYPE_CHECKING:
    from custsuccess.health.report import HealthReport

__all__ = [
    "COMMAND",
]


def _configure_score(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    add_config(parser)
    parser.add_argument(
        "--at-risk", type=non_negative_int, metavar="N",
        help="only the N accounts with the lowest scores, lowest first",
    )
    parser.add_argument(
        "--customer", action="append", metavar="ID", default=[],
        help="only this account (repeat for several)",
    )
    parser.add_argument(
        "--include-churned", action="store_true",
        help="also score accounts whose subscriptions have all ended",
    )
    add_output(parser, ("table", "json", "csv"))


def _main_reason_column(report: HealthReport) -> list[str | None]:
    """The reason of the rule with the largest effect on each account's score."""
    import numpy as np

    if not len(report):
        return []
    scores = report.rule_scores
    applicable = ~np.isnan(scores)
    weights = np.where(applicable, report.weights[None, :], 0.0)
    total = weights.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = np.where(applicable, weights / total * (scores - 50.0), 0.0)
    # the reason of the largest |effect| among the rules that have a reason
    has_reason = np.stack([r.codes >= 0 for r in report.reasons], axis=1) & applicable
    strength = np.where(has_reason, np.abs(effect), -1.0)
    best = strength.argmax(axis=1)
    return [
        report.reasons[int(j)].format(i) if strength[i, j] >= 0 else None
        for i, j in enumerate(best.tolist())
    ]


def _run_score(args: argparse.Namespace, out: TextIO) -> int:
    import numpy as np

    from custsuccess.io.quality import BlindModelWarning
    from custsuccess.plugins import Registry

    with Progress(3, expected_seconds=source_seconds(args)) as progress:
        progress.step("reading the data")
        dataset, as_of = load(args)
        progress.step("scoring")
        model = health_model(args.config, Registry.default())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BlindModelWarning)
            report = model.score(dataset, as_of, include_churned=args.include_churned)
    for warning in caught:
        if issubclass(warning.category, BlindModelWarning):
            print(f"custsuccess: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if args.customer:
        rows = [report.row(c) for c in args.customer]
        report = report.take(np.asarray(rows, dtype=np.intp))
    if args.at_risk is not None:
        report = report.at_risk(args.at_risk)
    with open_output(args.out) as stream:
        if args.format == "json":
            write_json(stream, clean({
                "as_of": iso(report.as_of),
                "thresholds": {"good": report.good, "poor": report.poor},
                "tier_counts": report.tier_counts(),
                "accounts": report.to_records(),
            }))
            return EXIT_OK
        reasons = _main_reason_column(report)
        playbooks = [
            ";".join(p for p, on in zip(report.playbooks, row, strict=True) if on)
            for row in report.recommended.tolist()
        ] if report.playbooks else [""] * len(report)
        if args.format == "csv":
            headers = ["customer_id", "as_of", "score", "tier", "playbooks", "main_reason"]
            headers += list(report.rule_names)
            as_of_text = iso(report.as_of)
            rule_scores = report.rule_scores.tolist()
            body = [
                [cid, as_of_text, None if math.isnan(s) else round(s, 4), tier, pb, reason,
                 *[None if math.isnan(v) else round(v, 4) for v in rs]]
                for cid, s, tier, pb, reason, rs in zip(
                    report.customer_ids.tolist(), report.score.tolist(), report.tier.tolist(),
                    playbooks, reasons, rule_scores, strict=True,
                )
            ]
            write_csv(stream, headers, body)
            return EXIT_OK
        counts = ", ".join(f"{k} {v:,}" for k, v in report.tier_counts().items())
        print(f"Health at {stamp(report.as_of)}: {len(report):,} accounts ({counts})",
              file=stream)
        table_rows = [
            [cid, "n/a" if math.isnan(s) else f"{s:.1f}", tier, pb.replace(";", ", "),
             reason or ""]
            for cid, s, tier, pb, reason in zip(
                report.customer_ids.tolist(), report.score.tolist(), report.tier.tolist(),
                playbooks, reasons, strict=True,
            )
        ]
        print(text_table(["customer", "score", "tier", "playbooks", "main reason"], table_rows,
                     indent=0), file=stream)
    return EXIT_OK


#: The subcommand this module runs.
COMMAND: Final = Command(
    "score",
    "health score of every account",
    _configure_score,
    _run_score,
)
