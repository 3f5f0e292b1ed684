"""``python -m custsuccess``: the same as the ``custsuccess`` command."""

from __future__ import annotations

from custsuccess.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
