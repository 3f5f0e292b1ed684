"""Tests of ``custsuccess demo``: the printed figures against a dataset computed here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from custsuccess import ValidationError, __version__
from custsuccess.cli import main, summarize
from custsuccess.demo import generate

AS_OF = np.datetime64("2026-10-31T00:00:00", "us") - np.timedelta64(1, "us")


def figures(text: str) -> dict[str, float]:
    """``label -> number`` for each indented line of the summary."""
    out: dict[str, float] = {}
    # the summary is the first paragraph; the full report follows it
    for line in text.split("\n\n")[0].splitlines()[1:]:
        match = re.fullmatch(r"\s+(\S.*?)\s+([\d,]+(?:\.\d+)?)", line)
        assert match, f"unexpected line {line!r}"
        out[match.group(1)] = float(match.group(2).replace(",", ""))
    return out


def expected(n: int, seed: int) -> dict[str, float]:
    """The same figures, computed straight from the dataset's arrays."""
    ds = generate(n, seed)
    subs = ds.subscriptions
    running = (subs.started_at <= AS_OF) & (np.isnat(subs.ended_at) | (subs.ended_at > AS_OF))
    paying = np.unique(subs.customer[running])
    had = np.unique(subs.customer)
    kinds = np.asarray(ds.kinds)[ds.events.kind]
    names, counts = np.unique(kinds, return_counts=True)
    return {
        "customers": n,
        "active subscriptions": int(running.sum()),
        "MRR (USD)": round(float(subs.mrr[running].sum()), 2),
        "churned customers": len(np.setdiff1d(had, paying)),
        "events": len(ds.events),
        **{str(k): int(c) for k, c in zip(names, counts, strict=True)},
    }


def test_demo_prints_the_datasets_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--demo-size", "300", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "custsuccess demo: 300 customers, seed 0, history up to 2026-10-31 00:00 UTC"
    )
    got = figures(out)
    want = expected(300, 0)
    assert got == pytest.approx(want)
    assert got["customers"] == 300
    assert got["active subscriptions"] + got["churned customers"] == 300
    assert sum(v for k, v in got.items() if k in want and k not in {
        "customers", "active subscriptions", "MRR (USD)", "churned customers", "events"
    }) == got["events"]


def test_seed_changes_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--demo-size", "200", "--seed", "4", "--no-save"]) == 0
    got = figures(capsys.readouterr().out)
    assert got == pytest.approx(expected(200, 4))
    assert got != pytest.approx(expected(200, 5))


def test_summarize_without_a_window_uses_the_latest_moment() -> None:
    ds = generate(150, seed=9)
    latest = max(ds.events.time.max(), ds.subscriptions.started_at.max())
    s = summarize(ds)
    subs = ds.subscriptions
    assert s.active_subscriptions == int(subs.active_at(latest).sum())
    assert s.customers == 150
    assert sum(s.events_by_kind.values()) == len(ds.events)


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "usage: custsuccess" in err
    assert "demo" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"custsuccess {__version__}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--demo-size", "-1"], "--demo-size: expected a whole number >= 0, got '-1'"),
        (["demo", "--demo-size", "many"], "expected a whole number >= 0, got 'many'"),
        (["demo", "--seed", "1.5"], "argument --seed: expected a whole number >= 0, got '1.5'"),
        (["nosuch"], "invalid choice: 'nosuch'"),
    ],
)
def test_bad_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_library_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(n_customers: int, seed: int) -> None:
        raise ValidationError("n_customers is too large, got 10")

    monkeypatch.setattr("custsuccess.demo.generate", broken)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err == "custsuccess: error: n_customers is too large, got 10\n"


def test_python_dash_m_and_the_installed_script() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "custsuccess", "demo", "--demo-size", "120", "--seed", "3",
         "--no-save"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert figures(run.stdout) == pytest.approx(expected(120, 3))
    script = Path(sys.executable).with_name("custsuccess")
    if script.exists():  # installed by `pip install -e .`
        again = subprocess.run(
            [str(script), "demo", "--demo-size", "120", "--seed", "3", "--no-save"],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert again.stdout == run.stdout
