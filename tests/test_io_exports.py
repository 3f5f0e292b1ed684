"""The shipped mappings turn the five sample exports (tests/fixtures/exports/) into a dataset.

Every expected number below was worked out by hand from the raw files:

* stripe_customers.csv: 6 customers; cus_OeP9... (Fjord) has no events anywhere.
* stripe_subscriptions.csv, MRR = Amount x Quantity / months in Interval:
  sub_1OaJ3mA1 12000 x 1 / 12 = 1000 (USD, yearly); sub_1OaK8qB2 15 x 4 = 60 (USD);
  sub_1ObL2nC3 99 (EUR, ended 2023-12-20, too_expensive -> price);
  sub_1ObL2pC3 15 x 2 = 30 (EUR); sub_1OcM5rD4 144 x 3 / 12 = 36 (USD, ended
  2023-12-15, switched_service -> switched_competitor); sub_1OdN7sE5 trialing -> 0 (GBP).
* amplitude_events.csv: 11 rows, one without account_id (skipped): 6 "Logged In" -> login,
  4 other types -> feature_used.
* zendesk_tickets.csv: 5 tickets -> 5 support_request; 4 have a first reply -> 4
  support_reply (ticket 1002 is unanswered).
* delighted_nps.csv: 4 responses, scores 9, 6, 10, 3.
"""

from __future__ import annotations

import filecmp
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")

from custsuccess import ValidationError
from custsuccess import io as csio

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
ROOT = Path(__file__).parent.parent

A1 = "cus_OaJ3kV1qQm2xA1"
B2 = "cus_OaK8pT4wZr7yB2"
C3 = "cus_ObL2mN6sXc9zC3"
D4 = "cus_OcM5qR8tVb1wD4"
E5 = "cus_OdN7rS2uYa3vE5"
F6 = "cus_OeP9tU4wXz5uF6"


def _read(**overrides: object) -> object:
    sources: dict[str, object] = {
        "customers": csio.source(EXPORTS / "stripe_customers.csv", mapping="stripe_customers"),
        "subscriptions": csio.source(
            EXPORTS / "stripe_subscriptions.csv", mapping="stripe_subscriptions"
        ),
        "events": [
            csio.source(EXPORTS / "amplitude_events.csv", mapping="amplitude_events"),
            csio.source(EXPORTS / "zendesk_tickets.csv", mapping="zendesk_tickets"),
            csio.source(EXPORTS / "delighted_nps.csv", mapping="delighted_nps"),
        ],
    }
    sources.update(overrides)
    return csio.read_dataset(**sources)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def dataset() -> object:
    return _read()


def test_customers(dataset: object) -> None:
    from custsuccess import Dataset

    assert isinstance(dataset, Dataset)
    c = dataset.customers
    assert c.ids.tolist() == [A1, B2, C3, D4, E5, F6]
    assert c.name.tolist() == ["Acme Corp", "Brightly", "Cobalt GmbH", "Dunes", "Ember Labs",
                               "Fjord"]
    assert c.segment.decode().tolist() == [
        "enterprise", "smb", "mid-market", "smb", "smb", None,
    ]
    # "2023-10-26 04:01:56" in the (UTC) column
    assert c.created_at[4] == np.datetime64("2023-10-26T04:01:56", "us")
    np.testing.assert_array_equal(c.attributes["seats"], [120, 8, 35, np.nan, 5, np.nan])
    assert c.attributes["billing_currency"].tolist() == ["usd", "usd", "eur", "usd", "gbp", "usd"]


def test_subscriptions_and_mrr(dataset: object) -> None:
    s = dataset.subscriptions  # type: ignore[attr-defined]
    by_id = dict(zip(s.ids.tolist(), s.mrr.tolist(), strict=True))
    assert by_id == {
        "sub_1OaJ3mA1": 1000.0,
        "sub_1OaK8qB2": 60.0,
        "sub_1ObL2nC3": 99.0,
        "sub_1ObL2pC3": 30.0,
        "sub_1OcM5rD4": 36.0,
        "sub_1OdN7sE5": 0.0,
    }
    assert s.currency.decode().tolist() == ["USD", "USD", "EUR", "EUR", "USD", "GBP"]
    assert s.cancel_reason.decode().tolist() == [
        None, None, "price", None, "switched_competitor", None,
    ]
    # Interval month / year: renewals follow it
    assert s.interval_months.tolist() == [12, 1, 1, 1, 12, 1]
    ended = dict(zip(s.ids.tolist(), s.ended_at.tolist(), strict=True))
    assert str(np.datetime64(ended["sub_1ObL2nC3"], "us")) == "2023-12-20T08:01:00.000000"
    # MRR running on 2023-12-31: 1000 + 60 (USD) and 30 (EUR); 99 and 36 ended, trial is 0
    running = s.active_at(np.datetime64("2023-12-31T00:00:00", "us"))
    assert s.mrr[running].sum() == pytest.approx(1090.0)


def test_event_counts(dataset: object) -> None:
    e = dataset.events  # type: ignore[attr-defined]
    kinds = np.asarray(e.kinds)[e.kind]
    counts = {k: int((kinds == k).sum()) for k in np.unique(kinds)}
    assert counts == {
        "login": 6,
        "feature_used": 4,
        "support_request": 5,
        "support_reply": 4,
        "nps_response": 4,
    }
    per_customer = dict(zip(dataset.customer_ids.tolist(), e.counts().tolist(), strict=True))  # type: ignore[attr-defined]
    # A1: 2 logins, 2 features, 2 requests, 1 reply, 1 NPS
    assert per_customer == {A1: 8, B2: 5, C3: 6, D4: 2, E5: 2, F6: 0}
    nps = e.value[kinds == "nps_response"]
    assert sorted(nps.tolist()) == [3.0, 6.0, 9.0, 10.0]


def test_properties(dataset: object) -> None:
    cols = dataset.to_columns()["events"]  # type: ignore[attr-defined]
    kinds = np.asarray(cols["kind"], dtype=object)
    feature = cols["feature"][kinds == "feature_used"].tolist()
    assert sorted(feature) == [
        "Created Dashboard", "Exported Report", "Exported Report", "Invited Teammate",
    ]
    assert set(cols["feature"][kinds != "feature_used"].tolist()) == {None}
    support = np.isin(kinds, ["support_request", "support_reply"])
    channels = sorted(zip(cols["ticket"][support].tolist(), cols["channel"][support].tolist(),
                          kinds[support].tolist(), strict=True))
    assert channels[:3] == [
        ("1001", "email", "support_reply"),
        ("1001", "email", "support_request"),
        ("1002", "email", "support_request"),  # web form -> email
    ]
    assert ("1003", "phone", "support_reply") in channels  # voice -> phone
    # "First reply at" 18/12/2023 23:42 of ticket 1005
    reply = (kinds == "support_reply") & (cols["ticket"] == "1005")
    assert str(cols["occurred_at"][reply][0]) == "2023-12-18T23:42:00.000000"
    # the "screen" key of Amplitude's JSON event_properties
    assert sorted(s for s in cols["screen"].tolist() if s) == [
        "dashboards", "home", "reports", "reports", "settings",
    ]
    # Delighted created_at 1702040400 (epoch seconds) is 2023-12-08 13:00 UTC
    nps = kinds == "nps_response"
    assert "2023-12-08T13:00:00.000000" in [str(t) for t in cols["occurred_at"][nps]]


def test_quality_report(dataset: object) -> None:
    report = dataset.describe()  # type: ignore[attr-defined]
    rows = {(s.name.rsplit("/", 1)[-1], s.rows_read, s.rows_out, s.rows_rejected)
            for s in report.sources}
    assert rows == {
        ("stripe_customers.csv", 6, 6, 0),
        ("stripe_subscriptions.csv", 6, 6, 0),
        ("amplitude_events.csv", 11, 10, 0),
        ("zendesk_tickets.csv", 5, 9, 0),
        ("delighted_nps.csv", 4, 4, 0),
    }
    skipped = {s.name.rsplit("/", 1)[-1]: dict(s.skipped) for s in report.sources}
    assert skipped["amplitude_events.csv"] == {"no account_id": 1}
    assert skipped["zendesk_tickets.csv"] == {"no First reply at": 1}
    assert report.customers_without_events == 1
    assert report.customers_without_events_examples == (F6,)
    assert report.currencies == {"EUR": (2, 30.0), "GBP": (1, 0.0), "USD": (3, 1060.0)}
    usage = {k.kind: (k.events, k.customers) for k in report.kinds}
    assert usage["login"] == (6, 4)
    readers = {k.kind: k.rules for k in report.kinds}
    assert "survey.nps" in readers["nps_response"]
    assert str(report.first) == "2023-01-15T09:30:00.000000"
    text = str(report)
    assert "amplitude_events.csv: 11 rows read -> 10 events, 0 rejected" in text
    assert "skipped 1: no First reply at" in text


def test_compressed_and_other_formats(tmp_path: Path, dataset: object) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    gz = tmp_path / "amplitude_events.csv.gz"
    with open(EXPORTS / "amplitude_events.csv", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    table = pcsv.read_csv(EXPORTS / "zendesk_tickets.csv")
    pq.write_table(table, tmp_path / "tickets.parquet")
    feather.write_feather(table, tmp_path / "tickets.feather")
    zst = tmp_path / "nps.tsv.zst"
    import pyarrow as pa

    text = (EXPORTS / "delighted_nps.csv").read_text().replace(",", "\t")
    text = text.replace("Missing integrations\t slow support", "Missing integrations, slow support")
    with pa.CompressedOutputStream(str(zst), "zstd") as out:
        out.write(text.encode())
    for tickets in (tmp_path / "tickets.parquet", tmp_path / "tickets.feather"):
        other = _read(events=[
            csio.source(gz, mapping="amplitude_events"),
            csio.source(tickets, mapping="zendesk_tickets"),
            csio.source(zst, mapping="delighted_nps"),
        ])
        assert other.equals(dataset)  # type: ignore[attr-defined]


def test_folder_of_parquet_and_frames(tmp_path: Path, dataset: object) -> None:
    import pandas as pd
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    amplitude = pcsv.read_csv(EXPORTS / "amplitude_events.csv")
    folder = tmp_path / "amplitude"
    folder.mkdir()
    pq.write_table(amplitude.slice(0, 5), folder / "part-0.parquet")
    pq.write_table(amplitude.slice(5), folder / "part-1.parquet")
    tickets = pd.read_csv(EXPORTS / "zendesk_tickets.csv")  # Ticket ID as int64
    nps = pcsv.read_csv(EXPORTS / "delighted_nps.csv")
    other = _read(events=[
        csio.source(folder, mapping="amplitude_events"),
        csio.source(tickets, mapping="zendesk_tickets"),
        csio.source(nps, mapping="delighted_nps"),
    ])
    assert other.equals(dataset)  # type: ignore[attr-defined]


def test_polars_frame(dataset: object) -> None:
    pl = pytest.importorskip("polars")
    nps = pl.read_csv(EXPORTS / "delighted_nps.csv")
    other = _read(events=[
        csio.source(EXPORTS / "amplitude_events.csv", mapping="amplitude_events"),
        csio.source(EXPORTS / "zendesk_tickets.csv", mapping="zendesk_tickets"),
        csio.source(nps, mapping="delighted_nps"),
    ])
    assert other.equals(dataset)  # type: ignore[attr-defined]


def test_examples_are_the_shipped_mappings() -> None:
    shipped = csio.shipped_mappings()
    assert sorted(shipped) == [
        "amplitude_events", "delighted_nps", "stripe_customers", "stripe_subscriptions",
        "zendesk_tickets",
    ]
    for name, path in shipped.items():
        assert filecmp.cmp(path, ROOT / "examples" / "mappings" / f"{name}.toml", shallow=False)


# --------------------------------------------------------------------------- bad input


def _bad(tmp_path: Path, name: str, old: str, new: str) -> Path:
    path = tmp_path / name
    text = (EXPORTS / name).read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_unknown_column(tmp_path: Path) -> None:
    path = _bad(tmp_path, "zendesk_tickets.csv", "Organization", "Org")
    with pytest.raises(ValidationError) as info:
        _read(events=csio.source(path, mapping="zendesk_tickets"))
    message = str(info.value)
    assert "zendesk_tickets.csv: unknown column 'Organization'" in message
    assert "'Org'" in message


def test_unparseable_time_names_source_row_column_value(tmp_path: Path) -> None:
    path = _bad(tmp_path, "zendesk_tickets.csv", "20/12/2023 08:33", "20/13/2023 08:33")
    with pytest.raises(ValidationError) as info:
        _read(events=csio.source(path, mapping="zendesk_tickets"))
    message = str(info.value)
    # the third ticket: data row 2, line 4 of the file
    assert "zendesk_tickets.csv: row 2 (line 4), column 'First reply at'" in message
    assert "'20/13/2023 08:33'" in message
    assert "%d/%m/%Y %H:%M" in message


def test_unmapped_kind(tmp_path: Path) -> None:
    path = _bad(tmp_path, "zendesk_tickets.csv", ",chat,", ",carrier pigeon,")
    with pytest.raises(ValidationError) as info:
        _read(events=csio.source(path, mapping="zendesk_tickets"))
    message = str(info.value)
    assert "row 3 (line 5), column 'Channel'" in message
    assert "'carrier pigeon'" in message
    assert "no value map entry" in message


def test_wrong_currency(tmp_path: Path) -> None:
    path = _bad(tmp_path, "stripe_subscriptions.csv", ",15.00,usd,", ",15.00,us$,")
    with pytest.raises(ValidationError) as info:
        _read(subscriptions=csio.source(path, mapping="stripe_subscriptions"))
    message = str(info.value)
    assert "stripe_subscriptions.csv: row 1 (line 3), column 'Currency'" in message
    assert "'us$'" in message
    assert "ISO 4217" in message


def test_unknown_customer_and_skip_mode(tmp_path: Path) -> None:
    path = _bad(tmp_path, "delighted_nps.csv", "1702040400,cus_OdN7rS2uYa3vE5",
                "1702040400,cus_nobody")
    with pytest.raises(ValidationError) as info:
        _read(events=csio.source(path, mapping="delighted_nps"))
    assert "delighted_nps.csv: row 3 (line 5), column 'account'" in str(info.value)
    assert "'cus_nobody'" in str(info.value)
    skipped = csio.read_dataset(
        customers=csio.source(EXPORTS / "stripe_customers.csv", mapping="stripe_customers"),
        events=csio.source(path, mapping="delighted_nps"),
        errors="skip",
    )
    assert len(skipped.events) == 3
    (report,) = [s for s in skipped.describe().sources if s.table == "events"]
    assert (report.rows_read, report.rows_out, report.rows_rejected) == (4, 3, 1)
    (rejection,) = report.rejected
    assert rejection.column == "account"
    assert rejection.examples == ((3, "cus_nobody"),)


def test_naive_time_without_zone_is_refused() -> None:
    import pyarrow as pa

    table = pa.table({"id": ["a"], "created_at": ["2024-01-01 10:00:00"]})
    with pytest.raises(ValidationError, match=r"Arrow table: row 0, column 'created_at'.*"
                       r"ambiguous.*'2024-01-01 10:00:00'"):
        csio.read_dataset(customers=csio.source(table))
