"""Human output never passes control characters from the data to the terminal; JSON and
CSV keep the data exactly."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from custsuccess.cli import main
from custsuccess.cli.output import printable, text_table

ESC = "\x1b"
EVIL_ID = f"{ESC}[2J{ESC}]0;owned{chr(7)}x"  # clear screen, set the window title
EVIL_NAME = "Acme\r\nFAKE LINE\u202egnp.exe"


@pytest.fixture
def source(tmp_path: Path) -> list[str]:
    customers = tmp_path / "c.csv"
    with customers.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "created_at", "name", "segment"])
        w.writerow([EVIL_ID, "2024-01-01", EVIL_NAME, f"smb{ESC}[0m"])
        w.writerow(["plain", "2024-01-01", "Plain", "smb"])
    subs = tmp_path / "s.csv"
    subs.write_text(
        "id,customer_id,plan,mrr,currency,started_at,ended_at,cancel_reason\n"
        f'1,"{EVIL_ID}",pro,10,USD,2024-01-02,2024-02-10,"price{ESC}[5m"\n'
        "2,plain,pro,10,USD,2024-01-02,,\n",
        encoding="utf-8",
    )
    return [f"--customers={customers}", f"--subscriptions={subs}", "--as-of", "2024-03-01"]


def test_printable_escapes_every_control_character() -> None:
    assert printable("a\x00b\x7fc\x9bd\u2066e") == "a\\x00b\\x7fc\\x9bd\\u2066e"
    assert printable("naïve café 東京") == "naïve café 東京"  # ordinary text untouched
    table = text_table(["id"], [[EVIL_ID]])
    assert ESC not in table
    assert "\\x1b[2J" in table


@pytest.mark.parametrize("command", [["score", "--include-churned"], ["churn", "--records"]])
def test_tables_show_control_characters_escaped(
    command: list[str], source: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, *source]) == 0
    out = capsys.readouterr().out
    assert "\\x1b[2J" in out  # shown, escaped
    for raw in (ESC, "\r", "\u202e", chr(7)):
        assert raw not in out


def test_json_and_csv_keep_the_data(
    source: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", "--include-churned", *source, "--format", "json"]) == 0
    ids = [a["customer_id"] for a in json.loads(capsys.readouterr().out)["accounts"]]
    assert EVIL_ID in ids
    assert main(["score", "--include-churned", *source, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert EVIL_ID in [r["customer_id"] for r in rows]


def test_demo_report_escapes_data_but_keeps_its_own_lines(source: list[str]) -> None:
    from custsuccess.cli import demo_report, read_csv_dataset, render_demo_report
    from custsuccess.plugins import Registry

    files = [arg.split("=", 1)[1] for arg in source[:2]]
    dataset = read_csv_dataset(*files)
    text = render_demo_report(
        demo_report(dataset, "2024-03-01T00:00:00Z", registry=Registry(entry_points=False))
    )
    assert ESC not in text
    assert "\u202e" not in text
    lines = text.splitlines()
    tier_header = next(i for i, line in enumerate(lines) if line.split() == [
        "tier", "accounts", "share"])
    assert lines[tier_header + 1].split()[0] == "good"  # the tier table is still a table
