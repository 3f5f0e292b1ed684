"""The ``custsuccess`` command: every subcommand and error path, in process (fast) and as
the installed script (``python -m custsuccess``, and the ``custsuccess`` script)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from custsuccess import churn, metrics
from custsuccess.cli import (
    DemoReport,
    demo_report,
    main,
    neutralize,
    read_csv_dataset,
    write_csv_dataset,
)
from custsuccess.cli.output import Progress
from custsuccess.dataset import Dataset
from custsuccess.demo import DEFAULT_END, generate
from custsuccess.errors import ValidationError
from custsuccess.health import HealthModel, HealthReport
from custsuccess.plugins import Registry
from custsuccess.store import SQLiteStore

END = np.datetime64("2026-10-31T00:00:00", "us")

# A small hand-made dataset: 'acme' pays 100 and logs in, 'bolt' pays 50 and left in
# February, '=evil' is a spreadsheet-formula id, 'dune' answered NPS 0.
CUSTOMERS = """id,created_at,name,segment,plan,seats
acme,2024-01-01,Acme Corp,smb,pro,3
bolt,2024-01-05T10:00:00Z,Bolt Ltd,smb,pro,
=evil,2024-01-10T00:00:00+02:00,"Evil, Inc.",enterprise,pro,1
dune,2024-02-01,Dune,smb,,2
"""
SUBSCRIPTIONS = """id,customer_id,plan,mrr,currency,started_at,ended_at,cancel_reason
s1,acme,pro,100,USD,2024-01-02,,
s2,bolt,pro,50,USD,2024-01-05T10:00:00Z,2024-02-20T00:00:00Z,price
s3,=evil,pro,30.5,USD,2024-01-10,,
s4,dune,pro,20,USD,2024-02-03,,
"""
EVENTS = """customer_id,kind,occurred_at,value,feature
acme,login,2024-03-30T09:00:00Z,,
acme,feature_used,2024-03-30T09:05:00Z,,dashboards
acme,nps_response,2024-03-01T00:00:00Z,10,
=evil,login,2024-01-11T00:00:00Z,,
dune,nps_response,2024-03-02T00:00:00Z,0,
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("customers", CUSTOMERS), ("subscriptions", SUBSCRIPTIONS),
                       ("events", EVENTS)):
        path = tmp_path / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        out[name] = path
    return out


def source(files: dict[str, Path]) -> list[str]:
    return [f"--{name}={path}" for name, path in files.items()]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's default store goes to a temporary cache directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --------------------------------------------------------------------------- CSV input


def test_csv_files_read_as_the_records_say(files: dict[str, Path]) -> None:
    ds = read_csv_dataset(*(str(p) for p in files.values()))
    assert ds.customer_ids.tolist() == ["=evil", "acme", "bolt", "dune"]
    # +02:00 offset -> UTC; a date alone is midnight UTC
    assert str(ds.customers.created_at[0]) == "2024-01-09T22:00:00.000000"
    assert str(ds.customers.created_at[1]) == "2024-01-01T00:00:00.000000"
    # a number column with an empty cell: float64 with NaN
    np.testing.assert_array_equal(ds.customers.attributes["seats"], [1.0, 3.0, np.nan, 2.0])
    subs = ds.subscriptions  # in customer order
    assert subs.ids.tolist() == ["s3", "s1", "s2", "s4"]
    assert subs.mrr.tolist() == [30.5, 100.0, 50.0, 20.0]
    assert subs.cancel_reason.decode().tolist() == [None, None, "price", None]
    assert np.isnat(subs.ended_at).tolist() == [True, True, False, True]
    assert len(ds.events) == 5
    assert ds.events.property("feature").decode().tolist().count("dashboards") == 1


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2024-03-31", "2024-03-31T00:00:00"),
        ("2024-03-31T12:00Z", "2024-03-31T12:00:00"),
        ("2024-03-31 14:00:00.5+02:00", "2024-03-31T12:00:00.500000"),
        ("2024-03-31T12:00:00.1234567-01:30", "2024-03-31T13:30:00.123456"),
        ("2024-03-31T12:00:00.123Z", "2024-03-31T12:00:00.123000"),
    ],
)
def test_moments(text: str, utc: str) -> None:
    from custsuccess.cli.csvfiles import parse_moment

    assert parse_moment(text) == np.datetime64(utc, "us")


@pytest.mark.parametrize("text", ["2024-03-31T12:00", "31/03/2024", "2024-02-30", "now", ""])
def test_not_moments(text: str) -> None:
    from custsuccess.cli.csvfiles import parse_moment

    assert parse_moment(text) is None


def test_csv_round_trip_of_the_demo(tmp_path: Path) -> None:
    ds = generate(150, seed=2)
    paths = write_csv_dataset(ds, tmp_path / "csv")
    assert [p.name for p in paths] == ["customers.csv", "subscriptions.csv", "events.csv"]
    assert read_csv_dataset(*(str(p) for p in paths)).equals(ds)


BAD_CASES = [
    # (table, replace this, with this, expected message parts)
    ("customers", "created_at", "created", ["customers.csv, row 1", "missing column(s) "
                                            "'created_at'"]),
    ("customers", "acme,2024-01-01", "acme,", ["customers.csv, row 2, column 'created_at'",
                                               "empty value"]),
    ("customers", "dune,2024-02-01", "dune,2024-02-31", ["customers.csv, row 5, column "
                                                         "'created_at'", "'2024-02-31'"]),
    ("subscriptions", "s3,=evil,pro,30.5", "s3,=evil,pro,30,5",
     ["subscriptions.csv, row 4", "9 value(s), expected 8"]),
    ("subscriptions", "30.5", "thirty", ["subscriptions.csv, row 4, column 'mrr'",
                                         "'thirty' is not a number"]),
    ("subscriptions", "s4,dune,pro,20", "s4,dune,pro,-20",
     ["subscriptions.csv", "row 5", "mrr must be a finite number >= 0, got -20.0"]),
    ("subscriptions", "2024-02-20T00:00:00Z", "2024-02-20T00:00:00",
     ["subscriptions.csv, row 3, column 'ended_at'", "'2024-02-20T00:00:00'",
      "without Z or an offset is ambiguous"]),
    ("events", "dune,nps_response,2024-03-02T00:00:00Z,0", "dune,nps_response,"
     "2024-03-02T00:00:00Z,11", ["events.csv", "row 6", "value must be an NPS answer", "11"]),
    ("events", "=evil,login", "nobody,login", ["events.csv", "customer_id", "row 5",
                                                "'nobody'"]),
    ("events", "customer_id,kind", "customer_id,customer_id", ["events.csv, row 1",
                                                               "appears twice"]),
]


@pytest.mark.parametrize(("table", "old", "new", "parts"), BAD_CASES)
def test_malformed_csv_is_one_line_naming_file_row_column_value(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str],
    table: str, old: str, new: str, parts: list[str],
) -> None:
    path = files[table]
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    status, out, err = run(["score", *source(files)], capsys)
    assert status == 2
    assert out == ""
    assert err.startswith("custsuccess: error: ")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, (part, err)


def test_blank_rows_are_skipped_and_rows_keep_their_numbers(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = EVENTS.splitlines()
    # row 2 ok, row 3 blank, row 4 empty cells, row 5 ok, row 6 the library rejects
    text = "\n".join([lines[0], lines[1], "", ",,,,", lines[2],
                      "dune,nps_response,2024-03-02T00:00:00Z,12,"]) + "\n"
    files["events"].write_text(text)
    status, _, err = run(["score", *source(files)], capsys)
    assert status == 2
    assert "events.csv: events row 6 (customer 'dune'" in err
    assert "got 12.0" in err
    files["events"].write_text("\n".join([lines[0], lines[1], "", "acme,login,nowZ,,"]))
    status, _, err = run(["score", *source(files)], capsys)
    assert status == 2
    assert "events.csv, row 4, column 'occurred_at': 'nowZ' is not a moment" in err
    files["events"].write_text("\n".join([lines[0], "", "acme,login,2024-01-01,x,"]))
    status, _, err = run(["score", *source(files)], capsys)
    assert "events.csv, row 3, column 'value': 'x' is not a number" in err


def test_missing_and_empty_and_binary_files(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    status, _, err = run(["score", f"--customers={missing}"], capsys)
    assert status == 2
    assert f"{missing}: cannot read the customers file" in err
    files["events"].write_text("")
    status, _, err = run(["score", *source(files)], capsys)
    assert (status, err.count("\n")) == (2, 1)
    assert "events.csv: the events file is empty" in err
    files["events"].write_bytes(b"customer_id,kind,occurred_at\n\xff\xfe,login,2024-01-01\n")
    status, _, err = run(["score", *source(files)], capsys)
    assert status == 2
    assert "events.csv: not UTF-8 text" in err


def test_debug_shows_the_traceback(files: dict[str, Path]) -> None:
    files["subscriptions"].write_text(SUBSCRIPTIONS.replace("30.5", "x"))
    with pytest.raises(ValidationError, match=r"row 4, column 'mrr': 'x' is not a number"):
        main(["score", *source(files), "--debug"])
    with pytest.raises(ValidationError):
        main(["--debug", "score", *source(files)])


# --------------------------------------------------------------------------- score


def expected_report(files: dict[str, Path], as_of: str) -> HealthReport:
    ds = read_csv_dataset(*(str(p) for p in files.values()))
    return HealthModel.default(Registry(entry_points=False)).score(ds, as_of)


def test_score_json_equals_the_library(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["score", *source(files), "--as-of", "2024-03-31", "--format",
                          "json"], capsys)
    assert status == 0
    payload = json.loads(out)
    report = expected_report(files, "2024-03-31T00:00:00Z")
    assert payload["as_of"] == "2024-03-31T00:00:00Z"
    assert payload["tier_counts"] == report.tier_counts()
    assert payload["thresholds"] == {"good": 70.0, "poor": 40.0}
    assert [a["customer_id"] for a in payload["accounts"]] == ["=evil", "acme", "dune"]
    for got, want in zip(payload["accounts"], report.to_records(), strict=True):
        assert got["score"] == pytest.approx(want["score"])
        assert got["tier"] == want["tier"]
        assert got["playbooks"] == want["playbooks"]
        assert got["rules"].keys() == want["rules"].keys()


def test_score_default_as_of_is_the_end_of_the_last_day(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["score", *source(files), "--format", "json"], capsys)
    assert status == 0
    # acme's last event is at 2024-03-30T09:05Z: midnight UTC after it
    assert json.loads(out)["as_of"] == "2024-03-31T00:00:00Z"


def test_score_csv_neutralises_formulas_and_matches(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "scores.csv"
    status, out, _ = run(["score", *source(files), "--as-of", "2024-03-31", "--format",
                          "csv", "--out", str(target)], capsys)
    assert (status, out) == (0, "")
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    report = expected_report(files, "2024-03-31T00:00:00Z")
    assert [r["customer_id"] for r in rows] == ["'=evil", "acme", "dune"]
    for row, score, tier in zip(rows, report.score.tolist(), report.tier.tolist(), strict=True):
        assert float(row["score"]) == pytest.approx(score, abs=1e-4)
        assert row["tier"] == tier
        assert row["as_of"] == "2024-03-31T00:00:00Z"
    for j, rule in enumerate(report.rule_names):
        column = [r[rule] for r in rows]
        want = report.rule_scores[:, j]
        assert [c == "" for c in column] == np.isnan(want).tolist()
    assert not any(c.startswith(("=", "+", "-", "@")) for r in rows for c in r.values())


def test_score_table_at_risk_and_customer(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    report = expected_report(files, "2024-03-31T00:00:00Z")
    status, out, _ = run(["score", *source(files), "--as-of", "2024-03-31", "--at-risk", "2"],
                         capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("Health at 2024-03-31 00:00 UTC: 2 accounts")
    assert lines[1].split()[:3] == ["customer", "score", "tier"]
    lowest = report.at_risk(2)
    for line, cid, score in zip(lines[2:], lowest.customer_ids, lowest.score, strict=True):
        assert line.split()[:2] == [cid, f"{score:.1f}"]
    status, out, _ = run(["score", *source(files), "--as-of", "2024-03-31", "--customer",
                          "acme"], capsys)
    assert [ln.split()[0] for ln in out.splitlines()[2:]] == ["acme"]
    status, _, err = run(["score", *source(files), "--customer", "zed"], capsys)
    assert status == 2
    assert "'zed' is not in this health report" in err


def test_score_with_a_config(files: dict[str, Path], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "health.toml"
    config.write_text('[tiers]\ngood = 95\npoor = 90\n')
    status, out, _ = run(["score", *source(files), "--config", str(config), "--format",
                          "json"], capsys)
    assert status == 0
    assert json.loads(out)["thresholds"] == {"good": 95.0, "poor": 90.0}
    config.write_text('[tiers]\ngood = 5\npoor = 90\n')
    status, _, err = run(["score", *source(files), "--config", str(config)], capsys)
    assert status == 2
    assert "tiers out of order" in err
    status, _, err = run(["score", *source(files), "--config", str(tmp_path / "x.toml")],
                         capsys)
    assert status == 2
    assert "no such health config file" in err


def test_score_from_the_store(files: dict[str, Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cs.sqlite"
    with SQLiteStore(db) as store:
        store.save(read_csv_dataset(*(str(p) for p in files.values())))
    a = run(["score", "--db", str(db), "--as-of", "2024-03-31", "--format", "json"], capsys)
    b = run(["score", *source(files), "--as-of", "2024-03-31", "--format", "json"], capsys)
    assert a[0] == b[0] == 0
    assert a[1] == b[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score"], "no data: give --customers CSV"),
        (["score", "--events", "e.csv"], "--events needs --customers too"),
        (["score", "--db", "x.db", "--customers", "c.csv"], "give either --db or CSV files"),
        (["score", "--db", "nope.sqlite"], "nope.sqlite: no such database file"),
        (["metrics", "--db", "x.db", "--option", "freq=year"], "--option applies to named"),
        (["demo", "--db", "x.db", "--no-save"], "--db and --no-save contradict"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(argv, capsys)
    assert (status, out) == (2, "")
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score", "--as-of", "yesterday"], "argument --as-of: expected a date"),
        (["score", "--as-of", "2024-03-31T10:00"], "argument --as-of: expected a date"),
        (["score", "--format", "xml"], "invalid choice: 'xml'"),
        (["metrics", "--periods", "0"], "expected a whole number >= 1, got '0'"),
        (["churn", "--by", "plan_x"], "invalid choice: 'plan_x'"),
    ],
)
def test_bad_options_are_argparse_errors(argv: list[str], message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_unwritable_output_exits_1(files: dict[str, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no" / "such" / "dir" / "out.json"
    status, _, err = run(["score", *source(files), "--out", str(target)], capsys)
    assert status == 1
    assert f"{target}: cannot write" in err


def test_unexpected_errors_are_one_line_unless_debug(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("custsuccess.health.HealthModel.score", boom)
    status, _, err = run(["score", *source(files)], capsys)
    assert status == 1
    assert err.startswith("custsuccess: internal error: RuntimeError: disk on fire (at ")
    assert err.count("\n") == 1
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["score", *source(files), "--debug"])


def test_interrupt_and_broken_pipe(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("custsuccess.health.HealthModel.score", interrupt)
    assert run(["score", *source(files)], capsys) == (130, "", "custsuccess: interrupted\n")

    def closed_pipe(*args: object, **kwargs: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("custsuccess.health.HealthModel.score", closed_pipe)
    status, _, err = run(["score", *source(files)], capsys)
    assert (status, err) == (0, "")  # the reader went away: no message, no traceback


def test_store_that_is_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("id,created_at\n" * 200)
    status, _, err = run(["score", "--db", str(junk)], capsys)
    assert status == 2
    assert err.startswith(f"custsuccess: error: {junk}")
    assert "not a SQLite database" in err or "not a readable custsuccess database" in err
    status, _, err = run(["demo", "--demo-size", "20", "--db", str(junk)], capsys)
    assert status == 2  # the store refuses a file that is not its own
    assert err.startswith(f"custsuccess: error: {junk}")
    assert err.count("\n") == 1
    status, _, err = run(["demo", "--demo-size", "20", "--db", str(junk / "x.sqlite")], capsys)
    assert status == 1
    assert f"{junk}: cannot create the folder" in err
    status, _, err = run(["demo", "--demo-size", "20", "--no-save", "--csv", str(junk / "d")],
                         capsys)
    assert status == 1
    assert f"{junk / 'd'}: cannot write" in err


def test_windows_line_endings_and_byte_order_mark(files: dict[str, Path]) -> None:
    for path in files.values():
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    ds = read_csv_dataset(*(str(p) for p in files.values()))
    assert ds.customer_ids.tolist() == ["=evil", "acme", "bolt", "dune"]
    assert len(ds.events) == 5


def test_neutralize() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralize(text) == "'" + text
    for text in ("acme", "", "1-2", " =x", "a=b"):
        assert neutralize(text) == text


# --------------------------------------------------------------------------- demo


@pytest.fixture(scope="module")
def demo_300() -> tuple[Dataset, DemoReport]:
    ds = generate(300, seed=0)
    return ds, demo_report(ds, END, registry=Registry(entry_points=False))


def test_demo_report_figures_equal_the_library(demo_300: tuple[Dataset, DemoReport]) -> None:
    ds, rep = demo_300
    view = ds.until(END)
    health = HealthModel.default(Registry(entry_points=False)).score(ds, END)
    assert rep.tier_counts == health.tier_counts()
    assert [a.customer_id for a in rep.at_risk] == health.at_risk(10).customer_ids.tolist()
    assert [a.score for a in rep.at_risk] == health.at_risk(10).score.tolist()
    # the last full quarter and month before 2026-10-31 are 2026Q3 and 2026-09
    nps = metrics.nps_by_period(view, freq="quarter")
    q3 = nps.periods.labels.index("2026Q3")
    assert (rep.nps_period, rep.nps.score, rep.nps.n) == ("2026Q3", nps.score[q3], nps.n[q3])
    flow = metrics.customer_flow(view)
    sep = flow.periods.labels.index("2026-09")
    assert rep.month == "2026-09"
    assert rep.churn_rate == flow.churn_rate[sep]
    assert rep.retention_rate == flow.retention_rate[sep]
    assert (rep.customers_start, rep.customers_lost) == (flow.customers_start[sep],
                                                         flow.lost[sep])
    moves = metrics.mrr_movements(view)
    assert rep.movements["new"] == moves.new[sep]
    assert rep.movements["churn"] == moves.churn[sep]
    assert rep.movements["closing"] == moves.closing[sep]
    records = churn.records(ds, END, registry=Registry(entry_points=False))
    recent = records.churned_at > np.datetime64("2025-10-31T00:00:00", "us")
    assert rep.churned == int(recent.sum())
    top = rep.reasons[0]
    mine = records.reason.decode()[recent] == top[0]
    assert top[1] == int(mine.sum())
    assert top[3] == pytest.approx(float(records.mrr_lost[recent][mine].sum()))
    assert rep.lifetime.median == churn.lifetimes_from(ds, END).kaplan_meier().median


@pytest.mark.parametrize(
    ("as_of", "month", "quarter"),
    [
        ("2026-10-31T00:00:00", "2026-09-01", "2026-07-01"),
        ("2026-11-01T00:00:00", "2026-10-01", "2026-07-01"),  # October just ended
        ("2026-10-01T00:00:00", "2026-09-01", "2026-07-01"),  # so did Q3
        ("2026-01-15T08:00:00", "2025-12-01", "2025-10-01"),  # across a year
        ("2026-03-31T23:59:59", "2026-02-01", "2025-10-01"),
    ],
)
def test_last_full_month_and_quarter(as_of: str, month: str, quarter: str) -> None:
    from custsuccess.cli.demo import previous_period

    t = np.datetime64(as_of, "us")
    assert previous_period(t, "month") == np.datetime64(month, "us")
    assert previous_period(t, "quarter") == np.datetime64(quarter, "us")


def test_demo_prints_every_section_and_saves_the_store(
    demo_300: tuple[Dataset, DemoReport], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds, rep = demo_300
    db = tmp_path / "demo.db"
    status, out, err = run(["demo", "--demo-size", "300", "--db", str(db)], capsys)
    assert (status, err) == (0, "")
    sections = out.split("\n\n")
    assert sections[0].startswith("custsuccess demo: 300 customers, seed 0")
    assert sections[1] == f"Saved to {db} (use it with --db)"
    text = out
    total = sum(rep.tier_counts.values())
    assert f"Health at 2026-10-31 00:00 UTC: {total:,} accounts scored" in text
    for tier, n in rep.tier_counts.items():
        assert f"  {tier:<7}  {n:>8,}" in text
    assert "The 10 accounts most at risk" in text
    for k, account in enumerate(rep.at_risk, 1):
        assert f"{k:>2}. {account.customer_id}" in text
        assert f"score {account.score:.1f}, {account.tier}" in text
    assert text.count("      why: ") == 10
    assert text.count("      next: ") == 10
    assert f"NPS, 2026Q3: {rep.nps.score:+.1f} from {rep.nps.n:,} answers" in text
    assert f"{100 * rep.churn_rate:.2f}%" in text
    assert f"+{rep.movements['new']:,.0f}" in text
    assert f"-{rep.movements['churn']:,.0f}" in text
    assert f"{rep.churned:,} customers churned" in text
    assert f"Median customer lifetime: {rep.lifetime.median:,.0f} days" in text
    with SQLiteStore(db) as store:
        assert store.load().equals(ds)
        assert len(store.load_churn_records(END)) > 0


def test_demo_default_store_is_in_the_cache_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"  # XDG_CACHE_HOME, set by the _cache fixture
    status, out, _ = run(["demo", "--demo-size", "60", "--seed", "1"], capsys)
    assert status == 0
    db = cache / "custsuccess" / "demo.sqlite"
    assert f"Saved to {db}" in out
    with SQLiteStore(db) as store:
        assert store.load().equals(generate(60, seed=1))
    # --no-save writes nothing, --csv writes the three files
    db.unlink()
    status, out, _ = run(["demo", "--demo-size", "60", "--no-save", "--csv",
                          str(cache / "csv")], capsys)
    assert status == 0
    assert not db.exists()
    assert "Saved to" not in out
    assert sorted(p.name for p in (cache / "csv").iterdir()) == [
        "customers.csv", "events.csv", "subscriptions.csv"]


def test_demo_draws_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "figures"
    status, out, err = run(["demo", "--demo-size", "120", "--no-save", "--plots",
                            str(folder)], capsys)
    assert (status, err) == (0, "")
    names = ["health.png", "cohorts.png", "survival.png", "mrr.png", "nps.png"]
    assert f"Drew {', '.join(str(folder / n) for n in names)}" in out
    for name in names:
        data = (folder / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 10_000, name  # a drawn figure, not an empty canvas
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, _, err = run(["demo", "--demo-size", "20", "--no-save", "--plots", str(folder)],
                         capsys)
    assert status == 2
    assert err == ("custsuccess: error: --plots needs matplotlib: "
                   "pip install 'custsuccess[plot]'\n")


def test_demo_of_zero_customers(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["demo", "--demo-size", "0", "--no-save"], capsys)
    assert status == 0
    assert "0 accounts scored" in out
    assert "NPS, 2026Q3: no answers" in out


# --------------------------------------------------------------------------- metrics


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("db") / "demo.sqlite"
    with SQLiteStore(db) as store:
        store.save(generate(300, seed=0))
    return db


def test_metrics_dashboard_json_equals_the_library(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["metrics", "--db", str(demo_db), "--as-of", "2026-10-31",
                          "--periods", "3", "--format", "json"], capsys)
    assert status == 0
    payload = json.loads(out)
    periods = payload["periods"]
    assert [p["period"] for p in periods] == ["2026-08", "2026-09", "2026-10"]
    assert payload["running"] == ["2026-10"]  # the data stop at 2026-10-31 00:00
    ds = generate(300, seed=0).until(END)
    flow = metrics.customer_flow(ds, start="2026-08-01T00:00:00Z", end=END)
    moves = metrics.mrr_movements(ds, start="2026-08-01T00:00:00Z", end=END)
    for i, p in enumerate(periods):
        assert p["customers_end"] == flow.customers_end[i]
        assert p["churn_rate"] == pytest.approx(flow.churn_rate[i])
        assert p["retention_rate"] == pytest.approx(flow.retention_rate[i])
        assert p["churned_mrr"] == moves.churn[i]
        assert p["closing_mrr"] == moves.closing[i]


def test_metrics_dashboard_hand_worked(files: dict[str, Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    # January: acme 100, bolt 50 and =evil 30.5 start; February: dune starts at 20 and
    # bolt leaves; March is running at the default as_of (acme's last event, March 30).
    # (No subscription starts or ends exactly at a month boundary.)
    status, out, _ = run(["metrics", *source(files), "--format", "json"], capsys)
    assert status == 0
    payload = json.loads(out)
    assert payload["running"] == ["2024-03"]
    jan, feb, mar = payload["periods"]  # --periods 12, but nothing before the first signup
    assert [p["period"] for p in (jan, feb, mar)] == ["2024-01", "2024-02", "2024-03"]
    assert (jan["new_customers"], jan["customers_end"], jan["new_mrr"]) == (3, 3, 180.5)
    assert jan["churn_rate"] is None  # no customer at the start: no rate
    assert (feb["customers_start"], feb["new_customers"], feb["lost_customers"]) == (3, 1, 1)
    assert feb["churn_rate"] == pytest.approx(1 / 3)
    assert feb["retention_rate"] == pytest.approx((3 - 1) / 3)
    assert (feb["new_mrr"], feb["churned_mrr"], feb["closing_mrr"]) == (20.0, 50.0, 150.5)
    assert feb["grr"] == pytest.approx(130.5 / 180.5)
    assert (mar["nps"], mar["nps_answers"]) == (0.0, 2)  # answers 10 and 0


def test_metrics_before_the_first_customer(files: dict[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["metrics", *source(files), "--as-of", "2023-06-01"], capsys)
    assert (status, out) == (2, "")
    assert err == ("custsuccess: error: no metrics as of 2023-06-01 00:00 UTC: the first "
                   "customer was created at 2024-01-01 00:00 UTC\n")


def test_metrics_dashboard_table_and_csv(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["metrics", "--db", str(demo_db), "--freq", "quarter", "--periods",
                          "2"], capsys)
    assert status == 0
    assert out.startswith("Metrics as of ")
    for title in ("\nCustomers\n", "\nMRR\n", "\nNPS\n"):
        assert title in out
    assert "2026Q4*" in out  # the quarter still running
    assert "* still running at" in out
    status, out, _ = run(["metrics", "--db", str(demo_db), "--periods", "4", "--format",
                          "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4
    assert rows[0].keys() >= {"period", "churn_rate", "nrr", "nps", "closing_mrr"}


def test_named_metrics(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["metrics", "nps", "referral_rate", "--db", str(demo_db),
                          "--as-of", "2026-10-31", "--option", "freq=year",
                          "--format", "json"], capsys)
    # referral_rate takes no freq: the metric's own validation error, exit 2
    assert status == 2
    status, out, _ = run(["metrics", "nps", "--db", str(demo_db), "--as-of", "2026-10-31",
                          "--option", "freq=year", "--format", "json"], capsys)
    assert status == 0
    got = json.loads(out)["metrics"]["nps"]["rows"]
    want = metrics.nps_by_period(generate(300, seed=0).until(END), freq="year")
    assert [r["period"] for r in got] == list(want.periods.labels)
    assert [r["score"] for r in got] == pytest.approx(want.score.tolist())
    status, out, _ = run(["metrics", "referral_rate", "email_rates", "--db", str(demo_db)],
                         capsys)
    assert status == 0
    assert "referral_rate: " in out
    assert "open_rate: " in out
    status, out, _ = run(["metrics", "nps", "--db", str(demo_db), "--format", "csv"], capsys)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["metric", "row", "column", "value"]
    assert {r[2] for r in rows[1:]} == {"score", "promoters", "passives", "detractors", "n"}
    status, _, err = run(["metrics", "nosuch", "--db", str(demo_db)], capsys)
    assert status == 2
    assert "unknown metric 'nosuch'" in err


# --------------------------------------------------------------------------- churn


def test_churn_summary_json_equals_the_library(demo_db: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["churn", "--db", str(demo_db), "--as-of", "2026-10-31",
                          "--format", "json"], capsys)
    assert status == 0
    payload = json.loads(out)
    ds = generate(300, seed=0)
    records = churn.records(ds, END, registry=Registry(entry_points=False))
    assert payload["churned"] == len(records)
    assert payload["mrr_lost"] == pytest.approx(float(records.mrr_lost.sum()))
    dist = churn.reason_distribution(records)
    assert [r["reason"] for r in payload["reasons"]] == dist.reason.tolist()
    assert [r["count"] for r in payload["reasons"]] == dist.count.tolist()
    km = churn.lifetimes_from(ds, END).kaplan_meier()
    assert payload["lifetime"]["all"]["median_days"] == pytest.approx(km.median)
    assert set(payload["lifetime"]) == {"all", "enterprise", "mid_market", "smb"}


def test_churn_records_and_since(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["churn", "--db", str(demo_db), "--as-of", "2026-10-31",
                          "--records", "--since", "2026-07-01", "--format", "csv"], capsys)
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    records = churn.records(generate(300, seed=0), END, registry=Registry(entry_points=False))
    since = records.churned_at >= np.datetime64("2026-07-01T00:00:00", "us")
    assert len(rows) == int(since.sum()) > 0
    assert [r["customer_id"] for r in rows] == records.customer_id[since].tolist()
    assert all(r["churned_at"] >= "2026-07-01" for r in rows)
    status, out, _ = run(["churn", "--db", str(demo_db), "--records"], capsys)
    assert out.splitlines()[0].split() == ["customer_id", "churned_at", "tenure_days",
                                           "reason", "mrr_lost", "segment", "plan"]
    assert len(out.splitlines()) == len(records) + 1
    status, out, _ = run(["churn", "--db", str(demo_db)], capsys)
    assert "\nReasons\n" in out
    assert "\nTenure at churn (days)\n" in out
    assert "Customer lifetime (Kaplan-Meier, by segment)" in out
    status, out, _ = run(["churn", "--db", str(demo_db), "--format", "csv"], capsys)
    assert out.splitlines()[0].startswith("reason,count,share,mrr_lost")


# --------------------------------------------------------------------------- plugins


def test_plugins_lists_every_contribution(capsys: pytest.CaptureFixture[str]) -> None:
    registry = Registry(entry_points=False)
    status, out, _ = run(["plugins", "--format", "json"], capsys)
    assert status == 0
    payload = json.loads(out)
    assert [p["name"] for p in payload["plugins"]] == list(registry.plugin_names())
    got = {(c["kind"], c["name"], c["plugin"]) for c in payload["contributions"]}
    want = {(c.kind, c.name, c.plugin) for c in registry.contributions()}
    assert got == want
    kinds = {c["kind"] for c in payload["contributions"]}
    assert kinds == {"health rule", "churn reason classifier", "metric", "playbook"}
    status, out, _ = run(["plugins"], capsys)
    for c in registry.contributions():
        assert any(line.split()[:2] == [c.name, c.plugin] for line in out.splitlines()), c
    for title in ("Health rules", "Churn reasons", "Metrics", "Playbooks"):
        assert f"\n{title} (" in out


@pytest.mark.usefixtures("plugin_autoload")
def test_plugins_lists_installed_entry_points(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import entry_points

    installed = {ep.name for ep in entry_points(group="custsuccess")}
    if not installed:
        pytest.skip("no custsuccess plugin is installed in this environment")
    status, out, _ = run(["plugins", "--format", "json"], capsys)
    assert status == 0
    payload = json.loads(out)
    listed = {p["name"]: p for p in payload["plugins"] if p["source"] == "entry point"}
    assert set(listed) == installed
    assert all(p["distribution"] and p["version"] for p in listed.values())
    contributing = {n for n, p in listed.items() if any(h.startswith("register_")
                                                         for h in p["hooks"])}
    assert contributing <= {c["plugin"] for c in payload["contributions"]}


# --------------------------------------------------------------------------- progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_for_long_work() -> None:
    stream = _Tty()
    with Progress(2, expected_seconds=5, stream=stream) as p:
        p.step("scoring the accounts")
        p.step("second step")
    assert p.enabled
    assert "scoring the accounts" in stream.getvalue()
    quiet = io.StringIO()  # not a terminal
    with Progress(2, expected_seconds=5, stream=quiet) as p:
        p.step("scoring")
    assert not p.enabled
    assert quiet.getvalue() == ""
    short = _Tty()  # a terminal, but quick work
    with Progress(2, expected_seconds=0.2, stream=short) as p:
        p.step("scoring")
    assert not p.enabled
    assert short.getvalue() == ""


def test_progress_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("rich", "rich.console", "rich.progress"):
        monkeypatch.setitem(sys.modules, name, None)
    stream = _Tty()
    with Progress(2, expected_seconds=5, stream=stream) as p:
        p.step("scoring")
    assert not p.enabled
    assert stream.getvalue() == ""


# --------------------------------------------------------------------------- the script


def script(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "custsuccess", *argv],
        capture_output=True, text=True, check=False, timeout=120, cwd=cwd,
    )


def test_script_demo_score_metrics_churn_plugins(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite"
    run_demo = script("demo", "--demo-size", "200", "--seed", "5", "--db", str(db),
                      "--csv", str(tmp_path))
    assert run_demo.returncode == 0, run_demo.stderr
    assert run_demo.stderr == ""  # not a terminal: no progress bar
    assert "The 10 accounts most at risk" in run_demo.stdout
    assert "Median customer lifetime" in run_demo.stdout
    from_db = script("score", "--db", str(db), "--format", "json")
    from_csv = script("score", "--customers=customers.csv", "--subscriptions",
                      "subscriptions.csv", "--events", "events.csv", "--format", "json",
                      cwd=tmp_path)
    assert from_db.returncode == from_csv.returncode == 0, from_db.stderr + from_csv.stderr
    accounts = json.loads(from_db.stdout)["accounts"]
    assert accounts == json.loads(from_csv.stdout)["accounts"]
    assert len(accounts) > 50
    m = script("metrics", "--db", str(db), "--periods", "2")
    c = script("churn", "--db", str(db))
    p = script("plugins")
    for result, marker in ((m, "\nMRR\n"), (c, "\nReasons\n"), (p, "\nMetrics (")):
        assert result.returncode == 0, result.stderr
        assert marker in result.stdout


def test_script_errors_have_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "customers.csv"
    bad.write_text("id,created_at\nacme,2024-13-01\n")
    result = script("score", "--customers", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"custsuccess: error: {bad}, row 2, column 'created_at': '2024-13-01' is not a "
        "moment: expected an ISO 8601 date (2024-03-31) or date and time with Z or an "
        "offset (2024-03-31T12:00:00+02:00)\n"
    )
    debug = script("score", "--customers", str(bad), "--debug")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    usage = script("score", "--format", "xml")
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr


def test_installed_script(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("custsuccess")
    if not exe.exists():
        pytest.skip("the console script is not installed in this environment")
    result = subprocess.run([str(exe), "plugins", "--format", "json"], capture_output=True,
                            text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["contributions"]


def test_demo_default_end_is_the_generators() -> None:
    assert np.datetime64(DEFAULT_END.rstrip("Z"), "us") == END


def test_demo_rebuilds_an_unusable_cache_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default database is a cache: a corrupt or stale one is rebuilt, not an error."""
    from custsuccess.cli import default_store_path
    from custsuccess.store import SQLiteStore

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = default_store_path()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a database at all" * 100)
    assert main(["demo", "--demo-size", "60"]) == 0
    capsys.readouterr()
    with SQLiteStore(cache) as store:
        assert store.load().n_customers == 60


def test_demo_never_deletes_a_file_named_with_db(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine.sqlite"
    mine.write_bytes(b"precious, not a database" * 100)
    assert main(["demo", "--demo-size", "60", "--db", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(mine) in err
    assert mine.read_bytes() == b"precious, not a database" * 100
