"""``custsuccess metrics``: churn, retention, MRR and NPS per period, or named metrics."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TextIO

from custsuccess.cli.options import (
    EXIT_OK,
    Command,
    UsageError,
    add_output,
    add_source,
    load,
    positive_int,
    source_seconds,
)
from custsuccess.cli.output import (
    Progress,
    clean,
    format_value,
    iso,
    json_value,
    open_output,
    stamp,
    text_table,
    write_csv,
    write_json,
)
from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np

    from custsuccess.dataset import Dataset

__all__ = [
    "COMMAND",
]


_SPAN_DAYS: Final = {"month": 31, "quarter": 92, "year": 366}

#: The unit of each dashboard column (see :mod:`custsuccess.units`).
DASHBOARD_UNITS: Final[dict[str, str]] = {
    "customers_start": "count", "new_customers": "count", "lost_customers": "count",
    "customers_end": "count", "churn_rate": "fraction", "retention_rate": "fraction",
    "opening_mrr": "money", "new_mrr": "money", "expansion_mrr": "money",
    "reactivation_mrr": "money", "contraction_mrr": "money", "churned_mrr": "money",
    "closing_mrr": "money", "grr": "fraction", "nrr": "fraction", "arpa": "money",
    "nps": "points", "nps_answers": "count",
}


def _configure_metrics(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help="registered metrics to compute (see `custsuccess plugins`); "
        "default: the dashboard of churn, retention, MRR and NPS per period",
    )
    add_source(parser)
    parser.add_argument("--freq", choices=("month", "quarter", "year"), default="month",
                        help="dashboard periods (default: month)")
    parser.add_argument("--periods", type=positive_int, default=12, metavar="N",
                        help="dashboard: the last N periods up to --as-of (default: 12)")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="an option passed to the named metrics (VALUE read as JSON when it is, "
        "else as text), e.g. --option freq=quarter",
    )
    add_output(parser, ("table", "json", "csv"))


def _dashboard(dataset: Dataset, as_of: np.datetime64, freq: str, n: int) -> tuple[
    list[str], list[list[Any]], list[str]
]:
    """Per-period figures: (headers, rows, labels of periods still running)."""
    import numpy as np

    from custsuccess import metrics

    span = np.timedelta64(_SPAN_DAYS[freq] * n, "D")
    created = dataset.customers.created_at
    if created.size and created.min() > as_of:
        raise ValidationError(
            f"no metrics as of {stamp(as_of)}: the first customer was created at "
            f"{stamp(created.min())}"
        )
    first = max(as_of - span, created.min()) if created.size else as_of - span
    periods = metrics.calendar_periods(first, as_of, freq=freq)  # type: ignore[arg-type]
    start = periods.starts[-n:][0]  # the last n periods, none before the first signup
    view = dataset.until(as_of)
    options: dict[str, Any] = {"freq": freq, "start": start, "end": as_of}
    flow = metrics.customer_flow(view, **options)
    rates = metrics.revenue_rates(view, **options)
    series = metrics.mrr_series(view, **options)
    nps = metrics.nps_by_period(view, **options)
    m = rates.movements
    headers = [
        "period", "customers_start", "new_customers", "lost_customers", "customers_end",
        "churn_rate", "retention_rate", "opening_mrr", "new_mrr", "expansion_mrr",
        "reactivation_mrr", "contraction_mrr", "churned_mrr", "closing_mrr", "grr", "nrr",
        "arpa", "nps", "nps_answers",
    ]
    rows = []
    for i, label in enumerate(flow.periods.labels):
        rows.append([
            label, int(flow.customers_start[i]), int(flow.new[i]), int(flow.lost[i]),
            int(flow.customers_end[i]), float(flow.churn_rate[i]),
            float(flow.retention_rate[i]), float(m.opening[i]), float(m.new[i]),
            float(m.expansion[i]), float(m.reactivation[i]), float(m.contraction[i]),
            float(m.churn[i]), float(m.closing[i]), float(rates.grr[i]), float(rates.nrr[i]),
            float(series.arpa[i]), float(nps.score[i]), int(nps.n[i]),
        ])
    running = [
        label for label, end in zip(flow.periods.labels, flow.periods.ends, strict=True)
        if end > as_of + np.timedelta64(1, "us")
    ]
    return headers, rows, running


def _run_metrics(args: argparse.Namespace, out: TextIO) -> int:
    from custsuccess.plugins import Registry

    options = dict(_key_value(o) for o in args.option)
    scalar_units: dict[str, str | None]
    if options and not args.names:
        raise UsageError("--option applies to named metrics: give their NAMEs")
    with Progress(2, expected_seconds=source_seconds(args)) as progress:
        progress.step("reading the data")
        dataset, as_of = load(args)
        progress.step("computing metrics")
        if not args.names:
            headers, rows, running = _dashboard(dataset, as_of, args.freq, args.periods)
            results, scalar_units = None, {}
        else:
            from custsuccess.metrics import compute

            registry = Registry.default()
            view = dataset.until(as_of)
            results = {
                name: compute(name, view, registry=registry, **options) for name in args.names
            }
            known = registry.metrics()
            scalar_units = {
                name: getattr(known[name].value, "unit", None) for name in args.names
            }
    with open_output(args.out) as stream:
        if results is None:
            _print_dashboard(stream, args.format, as_of, headers, rows, running)
        else:
            _print_named(stream, args.format, as_of, results, scalar_units)
    return EXIT_OK


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--option expects KEY=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


def _print_dashboard(
    stream: TextIO, fmt: str, as_of: np.datetime64, headers: list[str],
    rows: list[list[Any]], running: list[str],
) -> None:
    if fmt == "csv":
        write_csv(stream, headers, rows)
        return
    if fmt == "json":
        write_json(stream, clean({
            "as_of": iso(as_of), "running": running,
            "periods": [dict(zip(headers, r, strict=True)) for r in rows],
            "units": DASHBOARD_UNITS,
        }))
        return
    index = {h: j for j, h in enumerate(headers)}
    labels = [r[0] + ("*" if r[0] in running else "") for r in rows]
    groups = [
        ("Customers", ["customers_start", "new_customers", "lost_customers", "customers_end",
                       "churn_rate", "retention_rate"]),
        ("MRR", ["opening_mrr", "new_mrr", "expansion_mrr", "reactivation_mrr",
                 "contraction_mrr", "churned_mrr", "closing_mrr", "grr", "nrr", "arpa"]),
        ("NPS", ["nps", "nps_answers"]),
    ]
    print(f"Metrics as of {stamp(as_of)}", file=stream)
    for title, names in groups:
        print(f"\n{title}", file=stream)
        short = [n.replace("_customers", "").replace("_mrr", "") for n in names]
        body = [[label, *[format_value(r[index[n]], DASHBOARD_UNITS[n]) for n in names]]
                for label, r in zip(labels, rows, strict=True)]
        print(text_table(["period", *short], body), file=stream)
    if running:
        print(f"\n* still running at {stamp(as_of)}: figures to date", file=stream)


class _ResultTable(NamedTuple):
    headers: list[str]
    rows: list[list[Any]]
    facts: dict[str, Any]
    units: dict[str, str]  # of headers and facts, as the result declares them


def _result_table(result: Any) -> _ResultTable | None:
    """A registered metric's result as a table (headers, rows, scalar facts and their
    declared units), or None for a plain number. Rows are periods (``periods.labels``)
    or channels; columns are the one-dimensional arrays of that length."""
    import attrs
    import numpy as np

    from custsuccess.units import units_of

    if not attrs.has(type(result)):
        return None
    declared = units_of(result)
    fields = {f.name: getattr(result, f.name) for f in attrs.fields(type(result))}
    labels: Sequence[str] | None = None
    label_name = "row"
    if "periods" in fields and hasattr(fields["periods"], "labels"):
        labels, label_name = fields["periods"].labels, "period"
    elif isinstance(fields.get("channels"), tuple):
        labels, label_name = fields["channels"], "channel"
    facts: dict[str, Any] = {}
    headers: list[str] = [label_name] if labels is not None else []
    columns: list[Any] = []
    k = len(labels) if labels is not None else -1
    for name, value in fields.items():
        if isinstance(value, np.ndarray):
            if value.ndim == 1 and value.shape[0] == k:
                headers.append(name)
                columns.append(value.tolist())
            elif value.ndim == 2 and value.shape[0] == k and name == "customer_rate":
                for j in range(value.shape[1]):  # cohort matrices: one column per offset
                    headers.append(f"{name}[{j}]")
                    columns.append(value[:, j].tolist())
                    if name in declared:
                        declared[f"{name}[{j}]"] = declared[name]
        elif isinstance(value, (str, int, float, bool)) or value is None:
            facts[name] = value
    units = {h: declared[h] for h in [*headers, *facts] if h in declared}
    if labels is None:
        return _ResultTable([], [], facts, units)
    rows = [[label, *(c[i] for c in columns)] for i, label in enumerate(labels)]
    return _ResultTable(headers, rows, facts, units)


def _print_named(
    stream: TextIO, fmt: str, as_of: np.datetime64, results: dict[str, Any],
    scalar_units: dict[str, str | None],
) -> None:
    tables = {name: _result_table(value) for name, value in results.items()}
    if fmt == "json":
        payload: dict[str, Any] = {"as_of": iso(as_of), "metrics": {}}
        for name, value in results.items():
            table = tables[name]
            if table is None:
                payload["metrics"][name] = value
            else:
                headers, rows, facts, units = table
                entry = dict(facts)
                if headers:
                    entry["rows"] = [dict(zip(headers, r, strict=True)) for r in rows]
                if units:
                    entry["units"] = units
                payload["metrics"][name] = entry
        write_json(stream, clean(payload))
        return
    if fmt == "csv":
        # one long table: metric, row label, column, value
        body: list[list[Any]] = []
        for name, value in results.items():
            table = tables[name]
            if table is None:
                body.append([name, "", "value", json_value(value)])
                continue
            headers, rows, facts, _ = table
            body += [[name, "", k, v] for k, v in facts.items()]
            for r in rows:
                body += [[name, r[0], h, json_value(v)] for h, v in zip(headers[1:], r[1:],
                                                                          strict=True)]
        write_csv(stream, ["metric", "row", "column", "value"], body)
        return
    print(f"Metrics as of {stamp(as_of)}", file=stream)
    for name, value in results.items():
        table = tables[name]
        if table is None:
            unit = scalar_units.get(name)
            print(f"\n{name}: {format_value(json_value(value), unit)}", file=stream)
            continue
        headers, rows, facts, units = table
        print(f"\n{name}", file=stream)
        for k, v in facts.items():
            print(f"  {k}: {format_value(v, units.get(k))}", file=stream)
        if headers:
            body_rows = [[str(r[0]), *[format_value(json_value(v), units.get(h)) for h, v in
                                       zip(headers[1:], r[1:], strict=True)]] for r in rows]
            print(text_table(headers, body_rows), file=stream)


#: The subcommand this module runs.
COMMAND: Final = Command(
    "metrics",
    "churn, retention, MRR and NPS per period, or named metrics",
    _configure_metrics,
    _run_metrics,
)
