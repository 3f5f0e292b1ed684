"""``custsuccess plugins``: every registered health rule, churn reason, metric and
playbook with the plugin that provides it."""

from __future__ import annotations

import argparse
from typing import Final, TextIO

from custsuccess.cli.options import EXIT_OK, Command, add_output
from custsuccess.cli.output import open_output, text_table, write_json

__all__ = [
    "COMMAND",
]


def _configure_plugins(parser: argparse.ArgumentParser) -> None:
    add_output(parser, ("table", "json"))


def _run_plugins(args: argparse.Namespace, out: TextIO) -> int:
    from custsuccess.plugins import Registry

    registry = Registry.default()
    plugins = registry.plugins()
    contributions = registry.contributions()
    with open_output(args.out) as stream:
        if args.format == "json":
            write_json(stream, {
                "plugins": [
                    {"name": p.name, "source": p.source, "hooks": list(p.hooks),
                     "distribution": p.distribution, "version": p.version}
                    for p in plugins
                ],
                "contributions": [
                    {"kind": c.kind, "name": c.name, "plugin": c.plugin, "hook": c.hook,
                     "description": c.description}
                    for c in contributions
                ],
            })
            return EXIT_OK
        print("Plugins", file=stream)
        print(text_table(["plugin", "source", "package"], [
            [p.name, p.source,
             f"{p.distribution} {p.version}" if p.distribution else ""]
            for p in plugins
        ]), file=stream)
        titles = {
            "health rule": "Health rules", "churn reason classifier": "Churn reasons",
            "metric": "Metrics", "playbook": "Playbooks",
        }
        for kind, title in titles.items():
            mine = [c for c in contributions if c.kind == kind]
            print(f"\n{title} ({len(mine)})", file=stream)
            print(text_table(["name", "plugin", "description"], [
                [c.name, c.plugin, c.description] for c in mine
            ]), file=stream)
    return EXIT_OK


#: The subcommand this module runs.
COMMAND: Final = Command(
    "plugins",
    "every registered health rule, churn reason, metric and playbook",
    _configure_plugins,
    _run_plugins,
)
