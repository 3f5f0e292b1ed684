"""``custsuccess explain CUSTOMER_ID``: why one account has its health score: each rule's
part (effect, score, share, reason), the playbooks recommended and the score over time."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any, Final, TextIO

from custsuccess.cli.options import (
    EXIT_OK,
    Command,
    add_config,
    add_source,
    health_model,
    load,
    positive_int,
    source_seconds,
)
from custsuccess.cli.output import (
    Progress,
    clean,
    iso,
    money,
    open_output,
    printable,
    stamp,
    text_table,
    write_json,
)

if TYPE_CHECKING:
    import numpy as np

    from custsuccess.dataset import Dataset
    from custsuccess.health import HealthModel

__all__ = ["COMMAND", "score_history"]


def _configure_explain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("customer_id", metavar="CUSTOMER_ID", help="the account to explain")
    add_source(parser)
    add_config(parser)
    parser.add_argument(
        "--history", type=positive_int, default=6, metavar="N",
        help="the score at the same day of each of the N months before --as-of (default: 6)",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="output format (default: table)")
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")


def score_history(
    model: HealthModel, dataset: Dataset, customer_id: str, as_of: np.datetime64, months: int
) -> list[tuple[np.datetime64, float | None, str]]:
    """The account's (moment, score, tier) at ``as_of`` and the same instant 1 .. ``months``
    calendar months earlier, oldest first; (moment, None, "not a customer") where it was
    not scored then (not yet signed up, or not paying)."""
    import numpy as np

    one = dataset.customer(customer_id)
    day = as_of - as_of.astype("datetime64[D]").astype("datetime64[us]")
    month = as_of.astype("datetime64[M]")
    out: list[tuple[np.datetime64, float | None, str]] = []
    for k in range(months, -1, -1):
        first = (month - np.timedelta64(k, "M")).astype("datetime64[D]")
        # the same day of that month (the month's last day when it is shorter), same time
        last = ((month - np.timedelta64(k - 1, "M")).astype("datetime64[D]")
                - np.timedelta64(1, "D"))
        wanted = first + (as_of.astype("datetime64[D]") - month.astype("datetime64[D]"))
        t: np.datetime64 = min(wanted, last).astype("datetime64[us]") + day
        report = model.score(one, t, include_churned=True)
        if len(report) == 0:
            out.append((t, None, "not a customer"))
            continue
        score = float(report.score[0])
        out.append((t, None if math.isnan(score) else score, str(report.tier[0])))
    return out


def _run_explain(args: argparse.Namespace, out: TextIO) -> int:
    from custsuccess import metrics
    from custsuccess.plugins import Registry

    with Progress(3, expected_seconds=source_seconds(args)) as progress:
        progress.step("reading the data")
        dataset, as_of = load(args)
        progress.step("scoring")
        registry = Registry.default()
        model = health_model(args.config, registry)
        report = model.score(dataset, as_of, include_churned=True)
        explanation = report.explain(args.customer_id)  # an unknown id: a clear error
        progress.step("the score over time")
        history = score_history(model, dataset, args.customer_id, as_of, args.history)
    i = int(dataset.index_of(args.customer_id)[0])
    customers = dataset.customers
    name = customers.name[i]
    segment = customers.segment.decode()[i]
    mrr = float(metrics.customer_mrr(dataset.until(as_of), as_of)[i])
    playbooks = registry.playbooks()
    described = [
        (p, str(getattr(playbooks[p].value, "description", "")) if p in playbooks else "")
        for p in explanation.playbooks
    ]
    with open_output(args.out) as stream:
        if args.format == "json":
            payload: dict[str, Any] = {
                "as_of": iso(as_of), **explanation.to_dict(),
                "name": None if name is None else str(name),
                "segment": None if segment is None else str(segment), "mrr": mrr,
                "playbooks": [{"name": p, "description": d} for p, d in described],
                "history": [{"as_of": iso(t), "score": s, "tier": tier}
                            for t, s, tier in history],
            }
            write_json(stream, clean(payload))
            return EXIT_OK
        _print_explanation(stream, explanation, as_of, name, segment, mrr, described, history)
    return EXIT_OK


def _print_explanation(
    stream: TextIO, e: Any, as_of: np.datetime64, name: Any, segment: Any, mrr: float,
    playbooks: list[tuple[str, str]], history: list[tuple[np.datetime64, float | None, str]],
) -> None:
    score = "n/a" if e.score is None else f"{e.score:.1f}"
    who = e.customer_id + (f"  {name}" if name else "")
    facts = ", ".join(x for x in (segment, f"MRR {money(mrr)}") if x)
    print(printable(f"{who} ({facts})"), file=stream)
    line = f"Health at {stamp(as_of)}: {score} ({e.tier})"
    if e.churn_probability is not None:
        line += f", churn probability {100 * e.churn_probability:.1f}%"
    print(line, file=stream)
    learned = e.churn_probability is not None
    print("\nWhy: each rule's part" + (
        " (contributions to the log-odds of churn)" if learned else
        " (effect: points it moves the score from a neutral 50; the effects add up to "
        "the score - 50)"), file=stream)
    rows = []
    for r in e.rules:
        if learned:
            rows.append([r.rule, f"{r.contribution:+.2f}", "", "", r.reason or ""])
        elif not r.applicable:
            rows.append([r.rule, "", "", "", "not applicable"])
        else:
            rows.append([r.rule, f"{r.effect:+.1f}", f"{r.score:.1f}",
                         f"{100 * r.share:.0f}%", r.reason or ""])
    print(text_table(["rule", "effect", "score", "share", "reason"], rows), file=stream)
    print("\nNext", file=stream)
    if playbooks:
        print(text_table(["playbook", "what to do"], [[p, d] for p, d in playbooks]),
              file=stream)
    else:
        print("  no playbook applies", file=stream)
    print("\nScore over time", file=stream)
    print(text_table(["as of", "score", "tier"], [
        [stamp(t), "n/a" if s is None else f"{s:.1f}", tier] for t, s, tier in history
    ]), file=stream)


#: The subcommand this module runs.
COMMAND: Final = Command(
    "explain",
    "why one account has its health score: reasons, contributions, playbooks, history",
    _configure_explain,
    _run_explain,
)
