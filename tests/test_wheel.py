"""The wheel users install: built from this tree (offline: no build isolation), it holds
the type marker, the report's stylesheet and the source mappings, and the command runs
from it alone, away from the repository."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("hatchling", reason="hatchling (dev extra) builds the wheel offline")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )
    (built,) = out.glob("custsuccess-*.whl")
    return built


def test_wheel_holds_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "custsuccess/py.typed" in names
    assert "custsuccess/report/assets/report.css" in names
    mappings = sorted(p.name for p in (ROOT / "examples" / "mappings").glob("*.toml"))
    assert mappings  # the repository has them
    for name in mappings:
        assert f"custsuccess/mappings/{name}" in names
    assert not [n for n in names if n.startswith(("tests/", "docs/", ".venv", "examples/"))]


def test_the_command_runs_from_the_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import custsuccess; "
        "print(custsuccess.__file__); from custsuccess.cli import main; "
        "raise SystemExit(main(['demo', '--demo-size', '80', '--no-save']))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    where, first = done.stdout.splitlines()[:2]
    assert Path(where).is_relative_to(site)  # not the repository's source tree
    assert first.startswith("custsuccess demo: 80 customers")
