"""``custsuccess churn``: churn reasons, MRR lost, tenure and lifetimes, or the churn
records."""

from __future__ import annotations

import argparse
import math
from typing import Final, TextIO

from custsuccess.cli.options import (
    EXIT_OK,
    Command,
    add_output,
    add_source,
    load,
    moment_arg,
    source_seconds,
)
from custsuccess.cli.output import (
    Progress,
    clean,
    format_value,
    iso,
    money,
    open_output,
    pct,
    stamp,
    text_table,
    write_csv,
    write_json,
)

__all__ = [
    "COMMAND",
]


def _configure_churn(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    parser.add_argument(
        "--since", type=moment_arg, metavar="DATE",
        help="only customers who churned at or after DATE (default: all)",
    )
    parser.add_argument(
        "--records", action="store_true",
        help="print the churn database itself: one row per churned customer",
    )
    parser.add_argument("--by", choices=("segment", "plan"), default="segment",
                        help="group lifetimes by (default: segment)")
    add_output(parser, ("table", "json", "csv"))


def _run_churn(args: argparse.Namespace, out: TextIO) -> int:
    import numpy as np

    from custsuccess import churn
    from custsuccess.plugins import Registry

    with Progress(3, expected_seconds=source_seconds(args)) as progress:
        progress.step("reading the data")
        dataset, as_of = load(args)
        progress.step("classifying churn")
        records = churn.records(dataset, as_of, registry=Registry.default())
        if args.since is not None:
            records = records.take(records.churned_at >= args.since)
        progress.step("lifetimes")
        life = churn.lifetimes_from(dataset, as_of)
        overall = life.kaplan_meier()
        groups = life.kaplan_meier_by(args.by)
    with open_output(args.out) as stream:
        if args.records:
            rows = records.to_records()
            if args.format == "json":
                write_json(stream, clean({"as_of": iso(as_of), "records": rows}))
            elif args.format == "csv":
                headers = list(rows[0]) if rows else list(records.columns())
                write_csv(stream, headers, [list(r.values()) for r in rows])
            else:
                keys = ["customer_id", "churned_at", "tenure_days", "reason", "mrr_lost",
                        "segment", "plan"]
                body = [[str(r["customer_id"]), str(r["churned_at"])[:10],
                         format_value(r["tenure_days"], "days"), str(r["reason"]),
                         money(r["mrr_lost"]), str(r["segment"] or ""), str(r["plan"] or "")]
                        for r in rows]
                print(text_table(keys, body, indent=0), file=stream)
            return EXIT_OK
        dist = churn.reason_distribution(records)
        tenure = churn.tenure_by_reason(records)
        lifetimes = {"all": overall, **groups}
        if args.format == "json":
            write_json(stream, clean({
                "as_of": iso(as_of),
                "since": None if args.since is None else iso(args.since),
                "churned": len(records),
                "mrr_lost": float(np.nansum(records.mrr_lost)),
                "reasons": dist.to_records(),
                "tenure_by_reason": tenure.to_records(),
                "lifetime": {
                    name: {"n": km.n, "churned": int(km.events.sum()), "median_days": km.median,
                           "median_lower": km.median_lower, "median_upper": km.median_upper}
                    for name, km in lifetimes.items()
                },
            }))
            return EXIT_OK
        if args.format == "csv":
            headers = ["reason", "count", "share", "mrr_lost", "mrr_share",
                       "tenure_q1", "tenure_median", "tenure_q3", "tenure_mean"]
            by_reason = {r["reason"]: r for r in tenure.to_records()}
            body2 = []
            for r in dist.to_records():
                t = by_reason.get(r["reason"], {})
                body2.append([r["reason"], r["count"], r["share"], r["mrr_lost"],
                              r["mrr_share"], t.get("q1"), t.get("median"), t.get("q3"),
                              t.get("mean")])
            write_csv(stream, headers, body2)
            return EXIT_OK
        since = "" if args.since is None else f" since {stamp(args.since)}"
        print(f"Churn as of {stamp(as_of)}{since}: {len(records):,} customers churned, "
              f"MRR lost {money(float(np.nansum(records.mrr_lost)))}", file=stream)
        print("\nReasons", file=stream)
        print(text_table(["reason", "customers", "share", "MRR lost", "MRR share"], [
            [str(r["reason"]), f"{r['count']:,}", pct(r["share"]), money(r["mrr_lost"]),
             pct(r["mrr_share"] if r["mrr_share"] is not None else math.nan)]
            for r in dist.to_records()
        ]), file=stream)
        print("\nTenure at churn (days)", file=stream)
        print(text_table(["reason", "customers", "q1", "median", "q3", "mean"], [
            [str(r["reason"]), f"{r['count']:,}", *[
                format_value(r[k], "days") for k in ("q1", "median", "q3", "mean")
            ]] for r in tenure.to_records()
        ]), file=stream)
        print(f"\nCustomer lifetime (Kaplan-Meier, by {args.by})", file=stream)

        def days(x: float) -> str:
            return "not reached" if math.isinf(x) else f"{x:,.0f}"

        print(text_table([args.by, "customers", "churned", "median days", "95% CI"], [
            [name, f"{km.n:,}", f"{int(km.events.sum()):,}", days(km.median),
             "n/a" if math.isinf(km.median_lower)
             else f"{days(km.median_lower)} to {days(km.median_upper)}"]
            for name, km in lifetimes.items()
        ]), file=stream)
    return EXIT_OK


#: The subcommand this module runs.
COMMAND: Final = Command(
    "churn",
    "churn reasons, MRR lost, tenure and lifetimes, or the churn records",
    _configure_churn,
    _run_churn,
)
