"""Every command run as users run it: a separate process (``python -m custsuccess``), its
exit status, stdout and stderr. Numbers are checked against the library's own results or
hand-worked arithmetic, not against earlier output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from custsuccess.cli import COMMANDS

SIZE = "200"


def cli(*argv: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "custsuccess", *argv], capture_output=True, text=True,
        env=env, timeout=300, check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
    return done


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = dict(os.environ)
    out["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    out.pop("COLUMNS", None)
    return out


@pytest.fixture(scope="module")
def demo(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("store") / "demo.sqlite"
    done = cli("demo", "--demo-size", SIZE, "--seed", "5", "--db", str(db), env=env)
    return db, done.stdout


def _demo_tiers(report: str) -> dict[str, int]:
    block = report[report.index("Health at "):].split("\n\n")[0]
    return {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^\s+(\w+)\s+([\d,]+)\s",
                                                                   block, re.M)}


def test_demo_and_score_agree_on_the_same_data(
    demo: tuple[Path, str], env: dict[str, str]
) -> None:
    db, report = demo
    assert report.startswith(f"custsuccess demo: {SIZE} customers, seed 5")
    assert f"Saved to {db}" in report
    scored = json.loads(cli("score", "--db", str(db), "--format", "json", env=env).stdout)
    tiers = _demo_tiers(report)
    assert set(tiers) >= {"good", "average", "poor"}
    assert {k: v for k, v in scored["tier_counts"].items() if v or k in tiers} == tiers
    stamp = re.search(r"Health at (\S+ \S+) UTC", report)
    assert stamp is not None
    assert scored["as_of"] == stamp.group(1).replace(" ", "T") + ":00Z"


def test_explain_adds_up_and_matches_score(demo: tuple[Path, str], env: dict[str, str]) -> None:
    db, _ = demo
    worst = json.loads(cli("score", "--db", str(db), "--at-risk", "1", "--format", "json",
                           env=env).stdout)["accounts"][0]
    got = json.loads(cli("explain", worst["customer_id"], "--db", str(db), "--history", "2",
                         "--format", "json", env=env).stdout)
    assert got["score"] == pytest.approx(worst["score"])
    assert got["tier"] == worst["tier"]
    # the effects of the rules that apply add up to the distance from a neutral 50
    effects = [r["effect"] for r in got["rules"] if r["applicable"]]
    assert 50 + sum(effects) == pytest.approx(got["score"])
    # history: oldest first, the last point is the score at --as-of
    assert len(got["history"]) == 3
    assert got["history"][-1]["score"] == pytest.approx(got["score"])
    assert got["history"][-1]["as_of"] == got["as_of"]
    table = cli("explain", worst["customer_id"], "--db", str(db), env=env).stdout
    assert f"{worst['score']:.1f} ({worst['tier']})" in table
    assert "Score over time" in table
    unknown = cli("explain", "nobody", "--db", str(db), env=env, check=False)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("custsuccess: error: ")
    assert "nobody" in unknown.stderr


def test_metrics_churn_and_plugins(demo: tuple[Path, str], env: dict[str, str]) -> None:
    db, _ = demo
    dash = json.loads(cli("metrics", "--db", str(db), "--periods", "3", "--format", "json",
                          env=env).stdout)
    for p in dash["periods"]:
        # customers at the end = at the start - lost + new, and rates are fractions
        assert p["customers_end"] == p["customers_start"] - p["lost_customers"] + p[
            "new_customers"]
        assert 0 <= p["churn_rate"] <= 1
    churn = json.loads(cli("churn", "--db", str(db), "--format", "json", env=env).stdout)
    assert churn["churned"] == sum(r["count"] for r in churn["reasons"])
    plugins = json.loads(cli("plugins", "--format", "json", env=env).stdout)
    kinds = {c["kind"] for c in plugins["contributions"]}
    assert {"health rule", "metric", "playbook"} <= kinds


def test_a_closed_pipe_is_success(env: dict[str, str]) -> None:
    """``custsuccess demo | head -1``: the reader leaves early; exit 0, nothing on stderr."""
    with subprocess.Popen(
        [sys.executable, "-m", "custsuccess", "demo", "--demo-size", "300", "--no-save"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
        status = proc.wait(timeout=300)
    assert first.startswith(b"custsuccess demo: 300 customers")
    assert (status, err) == (0, b"")


def test_old_demo_option_still_works_and_warns(env: dict[str, str]) -> None:
    done = cli("demo", "--customers", "30", "--no-save", env=env, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("custsuccess demo: 30 customers")
    assert done.stderr == (
        "custsuccess: warning: demo --customers N is deprecated; use --demo-size N\n"
    )


@pytest.mark.parametrize("command", [None, *(c.name for c in COMMANDS)])
def test_help_points_to_help_not_to_repository_files(
    command: str | None, env: dict[str, str]
) -> None:
    text = cli(*([command] if command else []), "--help", env=env).stdout
    assert "docs/" not in text
    assert ".md" not in text
    if command in (None, "score", "explain", "metrics", "churn", "demo"):
        assert "midnight UTC at or after the last moment the data records" in " ".join(
            text.split())
