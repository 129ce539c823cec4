"""``tradeactors --help``: every option says what it does, and its default."""

from __future__ import annotations

import argparse

import pytest

from tradeactors import cli


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """The top-level parser and each command's, by name."""
    found = [("tradeactors", cli._parser())]
    for command, parent in found:  # and their sub-commands' (strategy add), as found
        for action in parent._actions:
            if isinstance(action, argparse._SubParsersAction):
                found += [(f"{command} {name}", parser) for name, parser in action.choices.items()]
    return found


def _arguments() -> list[tuple[str, argparse.ArgumentParser, argparse.Action]]:
    return [
        (name, parser, action)
        for name, parser in _parsers()
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
    ]


def _cases(*, with_default: bool = False) -> list[object]:
    return [
        pytest.param(name, parser, action, id=f"{name} {'/'.join(action.option_strings)}")
        for name, parser, action in _arguments()
        if not with_default or _has_a_default(action)
    ]


def _has_a_default(action: argparse.Action) -> bool:
    """A default worth showing: not None, False, [] or suppressed (0 is one)."""
    default = action.default
    return not (
        default is None or default is False or default == [] or default is argparse.SUPPRESS
    )


def _entries(parser: argparse.ArgumentParser) -> list[str]:
    """The entry of each argument in the help, on one line: ``--seed SEED  of ...``."""
    entries: list[str] = []
    for line in parser.format_help().splitlines():
        if line.startswith("  ") and not line.startswith("   "):  # an argument's first line
            entries.append(line.strip())
        elif line.startswith("   ") and entries:  # its help, continued
            entries[-1] += " " + line.strip()
    return entries


def test_every_command_has_a_parser():
    names = {name for name, _ in _parsers()}
    assert {"tradeactors run", "tradeactors demo", "tradeactors backtest"} <= names
    assert len(names) == 22  # tradeactors, its 14 commands, strategy's 3, journal's 4


@pytest.mark.parametrize(("command", "parser", "action"), _cases())
def test_every_option_has_help(command, parser, action):
    del parser
    assert (action.help or "").strip(), f"{command} {action.option_strings or action.dest}"


@pytest.mark.parametrize(("command", "parser", "action"), _cases(with_default=True))
def test_every_default_is_in_the_help(monkeypatch, command, parser, action):
    monkeypatch.setenv("COLUMNS", "1000")  # no help text wrapped
    option = ", ".join(action.option_strings) or action.metavar or action.dest
    entries = [entry for entry in _entries(parser) if entry.startswith(option)]
    assert len(entries) == 1, f"{command} {option}"
    assert f"(default: {action.default})" in entries[0], f"{command}: {entries[0]}"


def test_a_default_the_help_already_explains_is_not_repeated(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    text = dict(_parsers())["tradeactors run"].format_help()
    assert "--config CONFIG       TOML file (default: the embedded defaults)\n" in text
    assert "--runtime {threads,gevent}" in text
    assert "(default: threads)" in text
    assert "(default: None)" not in text
    assert "(default: False)" not in text
