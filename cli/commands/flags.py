"""argparse, speaking like Docker's command line (cobra and pflag).

A mistake raises :class:`UsageError` with the message Docker prints for it, and
never exits the process: the same parser serves the console script, scenario
files and the interactive shell.

- ``unknown flag: --foo``, ``unknown shorthand flag: 'x' in -x``
- ``flag needs an argument: --replicas``
- ``invalid argument "abc" for "--replicas" flag: strconv.ParseUint: parsing "abc":
  invalid syntax``
- ``"docker service create" requires at least 1 argument.``,
  ``"docker network ls" accepts no arguments.``

Flags may come anywhere among the positional words, as cobra parses them, except
for ``service create``, whose flags stop at the image (the rest is the container's
command); ``--`` ends the flags everywhere. A boolean flag takes ``--detach=true``
and ``--detach=false`` too, as pflag's do.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from core.errors import ShoalError


class UsageError(ShoalError):
    """A command line Docker would refuse: the message is Docker's, ``hint`` the
    ``See 'docker ... --help'.`` line it prints after it."""

    def __init__(self, message: str, command: str = "") -> None:
        self.message = message
        self.hint = f"See 'docker {command} --help'." if command else ""
        super().__init__(message)


_MARK = "\x00"  # separates the refused text from Go's reason in a type's error
_NUMBER = re.compile(r"-\d+(\.\d+)?")


class CommandParser(argparse.ArgumentParser):
    """One Docker command (``service create``): its flags, then its arguments."""

    def __init__(
        self, command: str, least: int = 0, most: int | None = None, interspersed: bool = True
    ) -> None:
        super().__init__(
            prog=f"docker {command}", add_help=False, exit_on_error=False, allow_abbrev=False
        )
        self.command = command
        self.least, self.most = least, most
        self.interspersed = interspersed

    def parse(self, argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
        """The flags' values and the positional arguments."""
        flags, arguments = self._split(list(argv))
        try:
            namespace = self.parse_args(flags)
        except argparse.ArgumentError as error:
            raise self._translate(error) from None
        self._check_arity(len(arguments))
        return namespace, arguments

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.command)

    def _split(self, words: list[str]) -> tuple[list[str], list[str]]:
        flags: list[str] = []
        arguments: list[str] = []
        index = 0
        while index < len(words):
            word = words[index]
            if word == "--":
                return flags, arguments + words[index + 1 :]
            if not word.startswith("-") or word == "-" or _NUMBER.fullmatch(word):
                if not self.interspersed:
                    return flags, words[index:]
                arguments.append(word)
                index += 1
                continue
            word = self._boolean_value(word)
            if word:
                flags.append(word)
            takes = bool(word) and self._value_follows(word)
            if takes and index + 1 < len(words):
                flags.append(words[index + 1])
            index += 2 if takes else 1
        return flags, arguments

    def _boolean_value(self, word: str) -> str:
        """pflag's ``--detach=true`` / ``--detach=false`` for a boolean flag: the flag,
        or nothing."""
        name, sep, value = word.partition("=")
        action = self._option_string_actions.get(name)
        if not sep or action is None or action.nargs != 0:
            return word
        if value.lower() in ("true", "1", "t"):
            return name
        if value.lower() in ("false", "0", "f"):
            return ""
        raise UsageError(
            f'invalid argument "{value}" for "{_long_name("/".join(action.option_strings))}" '
            f'flag: strconv.ParseBool: parsing "{value}": invalid syntax',
            self.command,
        )

    def _value_follows(self, word: str) -> bool:
        """Whether the flag ``word`` takes the next word as its value; unknown flags
        are refused here, with pflag's message."""
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            action = self._option_string_actions.get(name)
            if action is None:
                raise UsageError(f"unknown flag: {name}", self.command)
            return "=" not in word and action.nargs != 0
        for position, letter in enumerate(word[1:], start=1):
            action = self._option_string_actions.get(f"-{letter}")
            if action is None:
                raise UsageError(f"unknown shorthand flag: '{letter}' in {word}", self.command)
            if action.nargs != 0:
                return position == len(word) - 1  # else the rest of the word is the value
        return False

    def _translate(self, error: argparse.ArgumentError) -> UsageError:
        flag = _long_name(error.argument_name or "")
        message = str(error.message)
        if message.startswith("expected one argument"):
            return UsageError(f"flag needs an argument: {flag}", self.command)
        if message.startswith(_MARK):
            _, text, reason = message.split(_MARK, 2)
            return UsageError(
                f'invalid argument "{text}" for "{flag}" flag: {reason}', self.command
            )
        return UsageError(message, self.command)

    def _check_arity(self, count: int) -> None:
        least, most = self.least, self.most
        if most == 0 and count:
            problem = "accepts no arguments"  # cobra's NoArgs, as docker/cli words it
        elif most is not None and least == most and count != least:
            problem = f"requires exactly {_arguments(least)}"
        elif count < least:
            problem = f"requires at least {_arguments(least)}"
        elif most is not None and count > most:
            problem = f"requires at most {_arguments(most)}"
        else:
            return
        raise UsageError(f'"docker {self.command}" {problem}.', self.command)


def _arguments(count: int) -> str:
    return f"{count} argument" + ("" if count == 1 else "s")


def _long_name(names: str) -> str:
    """argparse names a flag by all its spellings (``-p/--publish``): the long one."""
    spellings = names.split("/")
    return next((s for s in spellings if s.startswith("--")), spellings[0])


def go_value(parse: Callable[[str], Any], reason: Callable[[str], str]) -> Callable[[str], Any]:
    """A flag type: ``parse`` the text, or fail with Go's ``reason`` for it."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (ValueError, ArithmeticError, UnicodeError, ShoalError):
            raise argparse.ArgumentTypeError(f"{_MARK}{text}{_MARK}{reason(text)}") from None

    return convert


UINT_MAX = 2**64 - 1


def _uint(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > UINT_MAX:
        raise ValueError(text)
    return int(text)


def _uint_reason(text: str) -> str:
    problem = "value out of range" if text.isascii() and text.isdigit() else "invalid syntax"
    return f'strconv.ParseUint: parsing "{text}": {problem}'


#: Go's ``strconv.ParseUint`` (``--replicas``, ``--update-parallelism``).
UINT = go_value(_uint, _uint_reason)
#: Go's ``strconv.ParseFloat`` (``--update-max-failure-ratio``).
FLOAT = go_value(float, lambda t: f'strconv.ParseFloat: parsing "{t}": invalid syntax')


def choice(*allowed: str) -> Callable[[str], str]:
    """One of ``allowed`` (``--update-failure-action pause|continue|rollback``)."""

    def pick(text: str) -> str:
        if text not in allowed:
            raise ValueError(text)
        return text

    return go_value(pick, lambda t: f"must be one of {', '.join(allowed)}")
