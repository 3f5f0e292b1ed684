"""``custsuccess learn`` and ``custsuccess backtest``: a health score learned from history,
and how well a health model predicts churn (docs/learning.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from custsuccess.cli.csvfiles import InputError
from custsuccess.cli.options import (
    EXIT_OK,
    Command,
    add_output,
    add_source,
    load,
    moment_arg,
)
from custsuccess.cli.output import clean, open_output, write_json

if TYPE_CHECKING:
    import numpy as np

    from custsuccess.health.model import HealthModel
    from custsuccess.plugins import Registry

__all__ = ["BACKTEST", "LEARN"]


def _dates(text: str) -> list[np.datetime64]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected dates separated by commas")
    return [moment_arg(t) for t in items]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    add_source(parser)
    parser.add_argument(
        "--dates", type=_dates, required=True, metavar="D1,D2,...",
        help="observation dates, separated by commas (2025-06-01,2025-09-01)",
    )
    parser.add_argument(
        "--horizon", type=_positive, default=90.0, metavar="DAYS",
        help="churn within this many days after each date (default 90)",
    )


def _configure_learn(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--model-out", required=True, metavar="JSON",
                        help="where to save the learned model (JSON text)")
    parser.add_argument("--segment-by", metavar="FIELD",
                        help="one coefficient set per segment, plan or customer attribute")
    parser.add_argument("--config", metavar="TOML",
                        help="the rules whose scores are features (default: every rule)")
    add_output(parser, ("table", "json"))


def _rules_model(args: argparse.Namespace, registry: Registry) -> HealthModel:
    from custsuccess.health import HealthModel

    if getattr(args, "config", None):
        if not Path(args.config).is_file():
            raise InputError(f"{args.config}: no such health config file")
        return HealthModel.from_toml(args.config, registry=registry)
    return HealthModel.default(registry)


def _run_learn(args: argparse.Namespace, out: TextIO) -> int:
    from custsuccess.health import learn
    from custsuccess.plugins import Registry

    dataset, _ = load(args)
    registry = Registry.default()
    model = learn(dataset, args.dates, args.horizon, segment_by=args.segment_by,
                  model=_rules_model(args, registry))
    model.save(args.model_out)
    scorer = model.learned
    assert scorer is not None
    summary: dict[str, Any] = {
        "model": str(args.model_out),
        "rows": scorer.n_rows,
        "features": len(scorer.names),
        "base_rate": scorer.base_rate,
        "penalty": scorer.penalty,
        "horizon_days": scorer.horizon_days,
        "thresholds": {"good": model.thresholds[0], "poor": model.thresholds[1]},
        "coefficients": [{"feature": n, "coefficient": c} for n, c in scorer.summary()],
    }
    with open_output(args.out) as stream:
        if args.format == "json":
            write_json(stream, clean(summary))
            return EXIT_OK
        print(f"Learned from {scorer.n_rows:,} rows: {len(scorer.names)} features, churn "
              f"{scorer.base_rate:.1%} within {scorer.horizon_days:g} days, penalty "
              f"{scorer.penalty:g}; saved to {args.model_out}", file=stream)
        print("Strongest features (coefficient per standard deviation, + raises the risk):",
              file=stream)
        for name, coef in scorer.summary()[:10]:
            print(f"  {coef:+7.3f}  {name}", file=stream)
    return EXIT_OK


def _configure_backtest(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--model", metavar="JSON",
                        help="a model saved by custsuccess learn (default: the default rules)")
    parser.add_argument("--config", metavar="TOML", help="health model settings (rules)")
    add_output(parser, ("table", "json"))


def _run_backtest(args: argparse.Namespace, out: TextIO) -> int:
    from custsuccess.health import HealthModel, backtest
    from custsuccess.plugins import Registry

    dataset, _ = load(args)
    registry = Registry.default()
    if args.model:
        if not Path(args.model).is_file():
            raise InputError(f"{args.model}: no such model file")
        model = HealthModel.load(args.model, registry=registry)
    else:
        model = _rules_model(args, registry)
    result = backtest(model, dataset, args.dates, args.horizon)
    with open_output(args.out) as stream:
        if args.format == "json":
            write_json(stream, clean(result.to_dict()))
        else:
            print(result, file=stream)
    return EXIT_OK


#: ``custsuccess learn``.
LEARN: Final = Command("learn", "learn a health score from history", _configure_learn,
                       _run_learn)
#: ``custsuccess backtest``.
BACKTEST: Final = Command("backtest", "how well a health model predicts churn",
                          _configure_backtest, _run_backtest)
