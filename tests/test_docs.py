"""Every command has help text and is documented in docs/CLI.md; the README keeps its
two quick-start commands and .ci/run calls the test one."""

from __future__ import annotations

import re

import click

from node.cli import cli
from tests.helpers import ROOT


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((prefix + name, command))
        if isinstance(command, click.Group):
            found.extend(commands(command, prefix + name + " "))
    return found


def test_every_command_has_help_and_is_documented() -> None:
    doc = (ROOT / "docs" / "CLI.md").read_text()
    for name, command in commands(cli):
        assert (command.help or "").strip(), f"`commune {name}` has no help text"
        last = name.split()[-1]
        assert re.search(rf"`[^`]*\b{re.escape(last)}\b", doc), f"`{name}` is not in docs/CLI.md"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"`commune {name}` option {param.opts} has no help"


def test_readme_has_exactly_two_quick_start_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert lines == ["python3 run.py demo", "python3 run.py test"]
    assert "python3 run.py test" in (ROOT / ".ci" / "run").read_text()


def test_architecture_names_every_module() -> None:
    """docs/ARCHITECTURE.md says what each module is for (issue 15): a module added
    without its line there fails here."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(ROOT))
        for package in ("crypto", "protocol", "node")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__init__.py"
        and f"`{path.name}`" not in text
        and f"`{path.relative_to(ROOT / package).as_posix()}`" not in text
        and path.parent.name != "kinds"
    ]
    assert missing == []
