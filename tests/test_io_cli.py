"""``custsuccess score --sources sources.toml``: any export, through its mapping."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

from custsuccess.cli import main

EXPORTS = Path(__file__).parent / "fixtures" / "exports"

SOURCES = """\
[[customers]]
path = "exports/stripe_customers.csv"
mapping = "stripe_customers"

[[subscriptions]]
path = "exports/stripe_subscriptions.csv"
mapping = "stripe_subscriptions"

[[events]]
path = "exports/amplitude_events.csv"
mapping = "amplitude_events"

[[events]]
path = "exports/zendesk_tickets.csv"
mapping = "mappings/tickets.toml"

[[events]]
sql = "sqlite:///{db}"
query = "SELECT * FROM nps WHERE score >= :lowest"
params = {{ lowest = 0 }}
mapping = "delighted_nps"
"""


@pytest.fixture
def sources_file(tmp_path: Path) -> Path:
    sa = pytest.importorskip("sqlalchemy")
    shutil.copytree(EXPORTS, tmp_path / "exports")
    (tmp_path / "mappings").mkdir()
    shipped = Path(__file__).parents[1] / "examples" / "mappings" / "zendesk_tickets.toml"
    shutil.copy(shipped, tmp_path / "mappings" / "tickets.toml")
    db = tmp_path / "nps.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE nps (email TEXT, score INTEGER, comment TEXT, created_at INTEGER, "
            "account TEXT)"
        )
        for line in (EXPORTS / "delighted_nps.csv").read_text().splitlines()[1:]:
            import csv

            email, score, comment, created, account = next(csv.reader([line]))
            conn.exec_driver_sql(
                "INSERT INTO nps VALUES (?, ?, ?, ?, ?)",
                (email, int(score), comment, int(created), account),
            )
    engine.dispose()
    path = tmp_path / "sources.toml"
    path.write_text(SOURCES.format(db=db))
    return path


def test_score_reads_a_sources_file(
    sources_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    code = main(["score", "--sources", str(sources_file), "--as-of", "2023-12-31",
                 "--format", "json", "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    # accounts with a subscription running at 2023-12-31 (sub_1OcM5rD4 of Dunes ended on
    # 2023-12-15), or with none at all (Fjord): 5 of the 6 customers
    ids = sorted(a["customer_id"] for a in report["accounts"])
    assert ids == ["cus_OaJ3kV1qQm2xA1", "cus_OaK8pT4wZr7yB2", "cus_ObL2mN6sXc9zC3",
                   "cus_OdN7rS2uYa3vE5", "cus_OeP9tU4wXz5uF6"]
    err = capsys.readouterr().err
    assert "zendesk_tickets.csv: 5 rows read -> 9 events, 0 rejected" in err
    assert "sql: SELECT * FROM nps WHERE score >= :lowest: 4 rows read -> 4 events" in err
    assert "Customers without events: 1" in err
    assert "blind" not in err


def test_cli_warns_when_the_model_is_blind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(EXPORTS, tmp_path / "exports")
    path = tmp_path / "sources.toml"
    path.write_text(SOURCES.split("[[events]]")[0])
    assert main(["score", "--sources", str(path), "--as-of", "2023-12-31"]) == 0
    err = capsys.readouterr().err
    assert "custsuccess: warning: the health model is blind: there are no events" in err


def test_sources_with_csv_flags_is_a_usage_error(
    sources_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["score", "--sources", str(sources_file), "--customers", "x.csv"])
    assert code == 2
    assert "give one of --db, --sources or CSV files" in capsys.readouterr().err


def test_bad_row_in_a_sources_file_names_file_row_column_value(
    sources_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tickets = sources_file.parent / "exports" / "zendesk_tickets.csv"
    tickets.write_text(tickets.read_text().replace("21/12/2023 16:46", "yesterday"))
    assert main(["score", "--sources", str(sources_file)]) == 2
    err = capsys.readouterr().err
    assert "zendesk_tickets.csv: row 3 (line 5), column 'First reply at'" in err
    assert "'yesterday'" in err
