"""``custsuccess learn`` and ``custsuccess backtest`` on CSV files of the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from custsuccess.cli import main, write_csv_dataset
from custsuccess.demo import generate
from custsuccess.health import HealthModel, backtest
from custsuccess.plugins import Registry


def test_learn_then_backtest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = generate(1500, seed=4)
    write_csv_dataset(ds, tmp_path)
    source = ["--customers", str(tmp_path / "customers.csv"),
              "--subscriptions", str(tmp_path / "subscriptions.csv"),
              "--events", str(tmp_path / "events.csv")]
    model_path = tmp_path / "model.json"
    assert main(["learn", *source, "--dates", "2025-06-01,2025-09-01,2025-12-01",
                 "--horizon", "90", "--model-out", str(model_path)]) == 0
    text = capsys.readouterr().out
    assert "Learned from" in text
    assert "saved to" in text
    saved = json.loads(model_path.read_text())
    assert saved["learned"]["horizon_days"] == 90.0
    assert main(["backtest", *source, "--dates", "2026-04-01,2026-07-01", "--model",
                 str(model_path), "--format", "json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert len(figures["per_date"]) == 2
    # the same figures as the library computes with the saved model
    model = HealthModel.load(model_path, registry=Registry.default())
    expected = backtest(model, ds, ["2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z"], 90)
    assert figures["auc"] == pytest.approx(expected.auc)
    assert figures["n_accounts"] == expected.n_accounts
    assert main(["backtest", *source, "--dates", "2026-07-01"]) == 0
    assert "ROC AUC" in capsys.readouterr().out
