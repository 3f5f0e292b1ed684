"""Mapping options, each checked on a small table against values worked out by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")

from custsuccess import ValidationError  # noqa: E402
from custsuccess import io as csio  # noqa: E402

CUSTOMERS = {"id": ["1", "2"], "created_at": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]}


def _customers() -> csio.Source:
    return csio.source(pa.table(CUSTOMERS))


def test_money_per_interval_to_mrr() -> None:
    subs = pa.table({
        "ID": ["s1", "s2", "s3", "s4"],
        "Account": [1, 2, 1, 2],  # integer ids are read as text
        "price_cents": [30000, 120000, 990, 5000],
        "billing": ["Quarter", "annual", "month", "week"],
        "seats": [2, 1, None, 1],
        "Currency": ["eur", "Usd", "usd", "usd"],
        "start": ["2024-01-01T00:00:00Z"] * 4,
    })
    mapping = {
        "table": "subscriptions",
        "fields": {
            "id": "id",  # case-insensitive: the column is "ID"
            "customer_id": "account",
            "plan": {"value": "pro"},
            "mrr": {"column": "price_cents", "scale": 0.01, "interval": "billing",
                    "quantity": "seats"},
            "currency": "currency",
            "started_at": "start",
        },
    }
    ds = csio.read_dataset(customers=_customers(),
                           subscriptions=csio.source(subs, mapping=mapping))
    s = ds.subscriptions
    got = dict(zip(s.ids.tolist(), s.mrr.tolist(), strict=True))
    # 300 x 2 / 3 = 200; 1200 / 12 = 100; 9.90 (no quantity: 1); 50 x 52 / 12 = 216.67
    assert got == pytest.approx({"s1": 200.0, "s2": 100.0, "s3": 9.9, "s4": 50 * 52 / 12})
    assert sorted(set(s.currency.decode().tolist())) == ["EUR", "USD"]
    assert ds.customers.ids.tolist() == ["1", "2"]


def test_every_and_zero_when() -> None:
    subs = pa.table({"id": ["a", "b"], "customer_id": ["1", "2"], "amount": [240.0, 240.0],
                     "status": ["active", "trialing"], "currency": ["USD", "USD"],
                     "plan": ["x", "x"], "started_at": ["2024-01-01"] * 2})
    mapping = {"fields": {
        "id": "id", "customer_id": "customer_id", "plan": "plan", "currency": "currency",
        "started_at": "started_at",
        "mrr": {"column": "amount", "every": "year",
                "zero_when": {"column": "status", "values": ["trialing"]}},
    }}
    ds = csio.read_dataset(customers=_customers(),
                           subscriptions=csio.source(subs, mapping=mapping))
    assert ds.subscriptions.mrr.tolist() == [20.0, 0.0]
    # a whole date is midnight UTC
    assert str(ds.subscriptions.started_at[0]) == "2024-01-01T00:00:00.000000"


def test_timezones_formats_and_epochs() -> None:
    events = pa.table({
        "who": ["1", "1", "2", "2"],
        "local": ["2024-07-01 12:00:00", "2024-01-15 12:00:00", "2024-07-01 12:00:00",
                  "2024-07-01 12:00:00"],
        "ms": [1_700_000_000_000, 1_700_000_000_500, 0, 1],
        "stamp": ["01.07.2024 12:30", "15.01.2024 08:00", "01.07.2024 00:00", "01.07.2024 00:00"],
    })
    base = {"customer_id": "who", "kind": {"value": "login"}}
    berlin = csio.read_dataset(customers=_customers(), events=csio.source(events, mapping={
        "fields": {**base, "occurred_at": {"column": "local", "timezone": "Europe/Berlin"}}}))
    # summer time: UTC+2, winter: UTC+1
    assert sorted(str(t) for t in berlin.events.time[:2]) == [
        "2024-01-15T11:00:00.000000", "2024-07-01T10:00:00.000000",
    ]
    epoch = csio.read_dataset(customers=_customers(), events=csio.source(events, mapping={
        "fields": {**base, "occurred_at": {"column": "ms", "unit": "ms"}}}))
    assert str(epoch.events.time[0]) == "2023-11-14T22:13:20.000000"
    assert str(epoch.events.time[1]) == "2023-11-14T22:13:20.500000"
    fmt = csio.read_dataset(customers=_customers(), events=csio.source(events, mapping={
        "fields": {**base, "occurred_at": {"column": "stamp", "format": "%d.%m.%Y %H:%M",
                                           "timezone": "America/New_York"}}}))
    # New York is UTC-4 in July, UTC-5 in January
    assert sorted(str(t) for t in fmt.events.time[:2]) == [
        "2024-01-15T13:00:00.000000", "2024-07-01T16:30:00.000000",
    ]


def test_kind_map_with_properties_json_and_constants() -> None:
    events = pa.table({
        "acct": ["1", "1", "2", "2"],
        "type": ["Signed In", "Report Exported", "Ticket", "Paid"],
        "props": [json.dumps({"n": 1}), json.dumps({"feature": "csv"}), "{}",
                  json.dumps({"amount": 12.5})],
        "at": ["2024-02-01T00:00:00Z"] * 4,
        "amount": [None, None, None, 12.5],
    })
    mapping = {"table": "events", "fields": {
        "customer_id": "acct",
        "occurred_at": "at",
        "kind": {"column": "type", "map": {
            "Signed In": "login",
            "Report Exported": {"kind": "feature_used", "feature": "export"},
            "Paid": "purchase",
        }, "keep_unmapped": True},
        "value": "amount",
        "source": {"value": "app"},
        "detail": {"column": "props", "json": "feature"},
    }}
    ds = csio.read_dataset(customers=_customers(), events=csio.source(events, mapping=mapping))
    cols = ds.to_columns()["events"]
    assert cols["kind"].tolist() == ["login", "feature_used", "purchase", "Ticket"]
    assert cols["feature"].tolist() == [None, "export", None, None]
    assert cols["detail"].tolist() == [None, "csv", None, None]
    assert cols["source"].tolist() == ["app"] * 4
    assert np.isnan(cols["value"][0])
    assert cols["value"][2] == 12.5
    strict = json.loads(json.dumps(mapping))
    del strict["fields"]["kind"]["keep_unmapped"]
    with pytest.raises(ValidationError, match=r"row 2, column 'type'.*'Ticket'"):
        csio.read_dataset(customers=_customers(), events=csio.source(events, mapping=strict))


def test_leading_zero_ids_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "Customer Number,Signed Up\n007,2024-01-01T00:00:00Z\n42,2024-01-02T00:00:00Z\n"
    )
    ds = csio.read_dataset(customers=csio.source(path, mapping={"fields": {
        "id": "customer number", "created_at": "signed up"}}))
    assert ds.customer_ids.tolist() == ["007", "42"]


def test_mapping_errors() -> None:
    with pytest.raises(ValidationError, match="unknown option"):
        csio.load_mapping({"fields": {"id": {"colum": "x"}}})
    with pytest.raises(ValidationError, match="no customers field 'created_at'"):
        csio.read_dataset(customers=csio.source(pa.table(CUSTOMERS), mapping={
            "fields": {"id": "id"}}))
    with pytest.raises(ValidationError, match=r"mapping .* is for events"):
        csio.read_dataset(customers=csio.source(pa.table(CUSTOMERS), mapping="delighted_nps"))


def test_toml_file_mapping(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('table = "customers"\n[fields]\nid = "ID"\ncreated_at = "Created"\n')
    table = pa.table({"ID": ["x"], "Created": ["2024-01-01T00:00:00+02:00"]})
    ds = csio.read_dataset(customers=csio.source(table, mapping=path))
    assert str(ds.customers.created_at[0]) == "2023-12-31T22:00:00.000000"


def test_sqlite_source(tmp_path: Path) -> None:
    sa = pytest.importorskip("sqlalchemy")
    db = tmp_path / "app.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE "Customer Accounts" ("Id" INTEGER, "Created" TEXT)')
        conn.exec_driver_sql(
            "INSERT INTO \"Customer Accounts\" VALUES (1, '2024-01-01T00:00:00Z'), "
            "(2, '2024-02-01T00:00:00Z'), (3, '2024-03-01T00:00:00Z')"
        )
    mapping = {"fields": {"id": "id", "created_at": "created"}}
    by_table = csio.read_dataset(customers=csio.sql(
        engine, table="Customer Accounts", mapping=mapping))
    assert by_table.customer_ids.tolist() == ["1", "2", "3"]
    by_query = csio.read_dataset(customers=csio.sql(
        f"sqlite:///{db}", 'SELECT * FROM "Customer Accounts" WHERE "Created" >= :since',
        params={"since": "2024-02-01"}, mapping=mapping))
    assert by_query.customer_ids.tolist() == ["2", "3"]
    # read-only: a writing statement is refused, and the pooled connection is given back
    with pytest.raises(ValidationError, match="refused"):
        csio.read_dataset(customers=csio.sql(
            engine, 'DELETE FROM "Customer Accounts" RETURNING "Id", "Created"',
            mapping=mapping))
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO \"Customer Accounts\" VALUES (4, '2024-04-01')")
        assert conn.exec_driver_sql('SELECT COUNT(*) FROM "Customer Accounts"').scalar() == 4
    engine.dispose()


def test_import_io_is_cheap() -> None:
    code = "import sys, custsuccess.io; print('pyarrow' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
