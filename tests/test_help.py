"""Every option and argument of every command says what it does, in words that fit that
command; a usage error points at the command's own help."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from dockwarden import cli


def _actions(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield path, action


def test_every_option_of_every_command_has_help() -> None:
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}"
               for path, a in _actions(cli.build_parser(), "dockwarden")
               if not a.help or a.help == argparse.SUPPRESS]
    assert not missing, missing


@pytest.mark.parametrize("command", ["image", "sbom", "daemon", "dockerfile", "compose",
                                     "run-command"])
def test_no_container_inspection_options_where_no_container_is_inspected(command: str) -> None:
    parser = cli.build_parser(only=command)
    options = {o for path, a in _actions(parser, "dockwarden") if path.endswith(command)
               for o in a.option_strings}
    if command == "daemon":
        assert "--no-images" not in options
    else:
        assert "--workers" not in options and "--no-local" not in options


@pytest.mark.parametrize("command", ["image", "compose", "dockerfile"])
def test_usage_error_points_at_the_commands_help(command: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--no-such-option"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"dockwarden {command} --help" in err and "Traceback" not in err
