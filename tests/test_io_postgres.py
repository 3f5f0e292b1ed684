"""SQL sources against a real PostgreSQL server that this module starts and stops itself.

The server runs from a temporary data directory on a loopback port. Its binaries
(``initdb``, ``pg_ctl``) are looked up on PATH and under /usr/lib/postgresql/*/bin
(where ``apt-get install postgresql`` puts them; ``.ci/run`` installs it when missing).
Run as root (CI), the server runs as the ``postgres`` user, or ``nobody``. Without the
binaries the tests are skipped, except under CI, where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")
sa = pytest.importorskip("sqlalchemy")
pytest.importorskip("psycopg")

from custsuccess import ValidationError  # noqa: E402
from custsuccess import io as csio  # noqa: E402

EXPORTS = Path(__file__).parent / "fixtures" / "exports"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> list[str]:
    """The prefix that runs a command as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return []
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"]
    pytest.skip("running as root with no unprivileged user to run PostgreSQL")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries not found; .ci/run installs them")
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found")
    prefix = _as_user()
    root = Path(tempfile.mkdtemp(prefix="custsuccess-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if prefix:
        user = prefix[2]
        shutil.chown(root, user=user)
        shutil.chown(sockets, user=user)
        root.chmod(0o700)
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "cs", "--auth=trust", "-E", "UTF8"],
        check=True, capture_output=True, env=env,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
         "start"],
        check=True, capture_output=True, env=env,
    )
    try:
        yield f"postgresql+psycopg://cs@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, env=env)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def engine(postgres_url: str) -> Iterator[object]:
    import pyarrow.csv as pcsv

    eng = sa.create_engine(postgres_url)
    with eng.begin() as conn:
        conn.exec_driver_sql('CREATE SCHEMA "Billing"')
        for name, schema in (("stripe_customers", '"Billing"'),
                             ("delighted_nps", "public")):
            table = pcsv.read_csv(EXPORTS / f"{name}.csv",
                                  convert_options=pcsv.ConvertOptions(
                                      column_types={"created_at": "int64"}
                                      if name == "delighted_nps" else {}))
            cols = ", ".join(f'"{c}" TEXT' if c != "created_at" or name != "delighted_nps"
                             else '"created_at" BIGINT' for c in table.column_names)
            conn.exec_driver_sql(f'CREATE TABLE {schema}."{name}" ({cols})')
            rows = table.to_pylist()
            names = ", ".join(f'"{c}"' for c in table.column_names)
            marks = ", ".join("%s" for _ in table.column_names)
            for row in rows:
                text_row = {k: (v if isinstance(v, int) and k == "created_at" else
                                (None if v is None else str(v))) for k, v in row.items()}
                conn.exec_driver_sql(
                    f'INSERT INTO {schema}."{name}" ({names}) VALUES ({marks})',
                    tuple(text_row.values()),
                )
    yield eng
    eng.dispose()


def test_postgres_tables_and_queries(engine: object, postgres_url: str) -> None:
    dataset = csio.read_dataset(
        customers=csio.sql(engine, table="stripe_customers", schema="Billing",
                           mapping="stripe_customers"),
        events=csio.sql(
            postgres_url,
            'SELECT * FROM delighted_nps WHERE score::int >= :lowest ORDER BY created_at',
            params={"lowest": 6},
            mapping="delighted_nps",
        ),
    )
    assert dataset.n_customers == 6
    # scores 9, 6 and 10 pass "score >= 6"; 3 does not
    assert sorted(dataset.events.value.tolist()) == [6.0, 9.0, 10.0]
    assert str(dataset.customers.created_at[0]) == "2023-01-15T09:30:00.000000"


def test_postgres_value_is_a_parameter_not_sql(engine: object) -> None:
    hostile = "0; DROP TABLE delighted_nps; --"
    with pytest.raises(ValidationError, match="refused"):
        csio.read_dataset(
            customers=csio.sql(engine, table="stripe_customers", schema="Billing",
                               mapping="stripe_customers"),
            events=csio.sql(engine, "SELECT * FROM delighted_nps WHERE score::int >= :lowest",
                            params={"lowest": hostile}, mapping="delighted_nps"),
        )
    with engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM delighted_nps").scalar() == 4


def test_postgres_connection_is_read_only(engine: object) -> None:
    with pytest.raises(ValidationError, match="read-only transaction"):
        csio.read_dataset(customers=csio.sql(
            engine, 'DELETE FROM "Billing".stripe_customers RETURNING *',
            mapping="stripe_customers"))
    with engine.connect() as conn:  # type: ignore[attr-defined]
        count = conn.exec_driver_sql('SELECT COUNT(*) FROM "Billing".stripe_customers').scalar()
    assert count == 6
