"""The parser of every command and :func:`main`, which runs one."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from custsuccess import __version__
from custsuccess.cli import churn, demo, explain, learn, metrics, plugins, report, score
from custsuccess.cli.options import (
    DEFAULT_AS_OF_RULE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    Command,
    Handler,
)
from custsuccess.cli.output import OutputError
from custsuccess.errors import CustSuccessError

__all__ = [
    "COMMANDS",
    "build_parser",
    "main",
]


COMMANDS: tuple[Command, ...] = (
    demo.COMMAND, score.COMMAND, explain.COMMAND, report.COMMAND, learn.LEARN,
    learn.BACKTEST, metrics.COMMAND, churn.COMMAND, plugins.COMMAND,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="custsuccess",
        description="Customer-success numbers for SaaS: health, churn, retention, revenue.",
        epilog=(
            f"The moment of every analysis is --as-of, by default {DEFAULT_AS_OF_RULE}. "
            "Each command's options: custsuccess COMMAND --help. Exit status: 0 success "
            "(also when the reader of the output stops early, as `| head` does), "
            "1 unexpected failure, 2 usage error or invalid input."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(child)
        child.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show the traceback of an error")
        child.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Usage errors exit with status 2 (argparse's convention); invalid input found while
    running prints one line ``custsuccess: error: ...`` and returns 2; an output file
    that cannot be written, 1; any other failure prints one line (the traceback with
    ``--debug``) and returns 1.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_INVALID
    debug = bool(getattr(args, "debug", False))
    started = time.perf_counter()
    try:
        return handler(args, sys.stdout)
    except KeyboardInterrupt:
        if debug:
            raise
        print("custsuccess: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`custsuccess demo | head`): it has what it wanted, so stop
        # quietly with success, as `cat` and `grep` do under a shell without SIGPIPE
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OutputError as exc:
        if debug:
            raise
        print(f"custsuccess: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except CustSuccessError as exc:
        if debug:
            raise
        print(f"custsuccess: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as exc:
        if debug:
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(
            f"custsuccess: internal error: {type(exc).__name__}: {exc} "
            f"(at {Path(where.filename).name}:{where.lineno}; run with --debug for the "
            f"traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    finally:
        if debug:
            print(f"custsuccess: {time.perf_counter() - started:.2f} s", file=sys.stderr)
