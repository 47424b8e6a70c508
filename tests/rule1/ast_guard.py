"""Static layer of the rule-1 guard: reject I/O, clocks, concurrency and global randomness in core/.

Rule 1: code under ``core/`` does no I/O. Time comes in as arguments and randomness from the
``random.Random`` its caller hands in, so every run of the core is a pure function of its inputs.
This module parses every ``.py`` file under a tree with ``ast`` and reports each construct that
would break that. It sees imports and attribute chains rooted at imported names (aliases included);
the runtime layer (``io_trap``) catches what only shows up at call time.

Rejected (the tables below are the source of truth):

* importing any module of FORBIDDEN_MODULES, in any form, submodules included:
  clocks (time, sched, _datetime); concurrency (threading, _thread, asyncio, concurrent,
  multiprocessing, queue: queue only adds blocking thread hand-off over collections.deque);
  network (socket, ssl, select, selectors, http, urllib, requests, ...); processes (subprocess,
  signal, pty); randomness (secrets, uuid, _random); drivers (simpy, docker, pyroute2); files
  (io, pathlib, tempfile, shutil, glob, ...); dynamic code (importlib, builtins, runpy, pkgutil);
  raw OS access (posix, nt, ctypes, mmap, fcntl, resource); logging (it reads the clock and
  writes streams: return events and let the driver log them);
* ``datetime`` may be imported (the model formats timestamps with it) but its clock reads may
  not be named (datetime.datetime.now/utcnow/today, datetime.date.today), nor may
  datetime.datetime or datetime.date be subclassed (the subclass would inherit them);
* ``random`` may be imported for ``random.Random`` annotations; every other ``random.X`` is the
  hidden global generator, and calling or subclassing ``random.Random`` makes a generator the
  caller did not hand in;
* ``os`` is allow-listed: only path-string helpers (OS_ALLOWED, OS_PATH_PURE); posixpath and
  ntpath count as os.path. ``sys`` is deny-listed (SYS_FORBIDDEN: streams, argv, exit, imports,
  frame hooks);
* any load of the builtins open, input, print, breakpoint, __import__, exec, eval, compile (a
  call, and also naming one: ``f = __import__; f('time')`` is caught at ``__import__``), and any
  mention of ``__builtins__``;
* evasions of this guard: a gated module (random, datetime, os, sys) used as a value, star
  imports from it, dunder attributes on it, getattr/setattr/delattr/vars on it;
* a file that does not parse: an unparsed file is an unchecked file.

Simple aliases are followed: a plain name bound (``=``, ``:=``, an annotated assignment, tuple
unpacking of a tuple display, or a parameter default) to a gated name or to another alias
stands for that name, so ``D = datetime.datetime; D.now()`` is the clock read it is, and
``g = getattr; g(datetime.datetime, 'now')`` is getattr on a gated name.

Known blind spots: names are tracked per file, not per scope, so a local variable that shadows an
imported gated module, an alias or a forbidden builtin is judged as what it shadows too (a false
alarm, never a miss);
aliases kept in attributes, containers or return values are not followed (the runtime layer
traps the clock reads they would reach).
"""

from __future__ import annotations

import argparse
import ast
import random
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal

Role = Literal["import", "call", "value", "base"]

CLOCK: Final = (
    "the core reads no clock and never sleeps; take `now` as an argument and return timers as "
    "effects"
)
CONCURRENCY: Final = (
    "the core runs no threads, processes or event loops; return effects for the driver to schedule"
)
NETWORK: Final = "the core opens no connections; return messages for the driver to send"
PROCESS: Final = "the core spawns no processes and handles no signals; return commands instead"
RANDOMNESS: Final = "the core draws randomness only from the `random.Random` its caller hands in"
DRIVER: Final = "the core is driver-agnostic; simpy belongs in sim/, docker and pyroute2 in real/"
FILES: Final = "the core does no file I/O; take contents as arguments and return what to write"
STREAMS: Final = "the core writes no streams; return values or events for the driver to show"
DYNAMIC: Final = "dynamic imports and evaluated code hide I/O from this guard; import statically"
SYSTEM: Final = "the core makes no system calls and reads no environment; the driver owns the OS"
LOGGING: Final = "logging reads the clock and writes streams; return events for the driver to log"
EVASION: Final = (
    "this guard checks attribute access on gated modules; name the attribute statically"
)
UNPARSED: Final = "an unparsed file is an unchecked file; fix the syntax"


def _names(text: str) -> frozenset[str]:
    """Whitespace-separated names: long tables stay short and easy to scan."""
    return frozenset(text.split())


def _reasons(reason: str, names: str) -> dict[str, str]:
    """Map each whitespace-separated name to ``reason``."""
    return dict.fromkeys(names.split(), reason)


FORBIDDEN_MODULES: Final[Mapping[str, str]] = MappingProxyType(
    {
        **_reasons(CLOCK, "time sched _datetime"),
        **_reasons(CONCURRENCY, "threading _thread asyncio concurrent multiprocessing queue"),
        **_reasons(
            NETWORK,
            "socket _socket socketserver ssl _ssl select selectors http urllib ftplib smtplib"
            " poplib imaplib xmlrpc requests urllib3 httpx aiohttp",
        ),
        **_reasons(PROCESS, "subprocess _posixsubprocess signal pty"),
        **_reasons(RANDOMNESS, "secrets uuid _random"),
        **_reasons(DRIVER, "simpy docker pyroute2"),
        **_reasons(FILES, "io _io pathlib tempfile shutil glob fileinput sqlite3 dbm shelve"),
        **_reasons(DYNAMIC, "importlib builtins runpy pkgutil zipimport"),
        **_reasons(SYSTEM, "posix nt ctypes mmap fcntl resource"),
        **_reasons(LOGGING, "logging"),
    }
)

GATED_MODULES: Final = frozenset({"random", "datetime", "os", "sys"})
PATH_MODULES: Final = frozenset({"posixpath", "ntpath", "genericpath"})  # judged as os.path

DATETIME_CLOCK_READS: Final = frozenset(
    {
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
    }
)
DATETIME_CLASSES: Final = frozenset({"datetime.datetime", "datetime.date"})
RANDOM_METHODS: Final = frozenset(name for name in dir(random.Random) if not name.startswith("_"))

OS_ALLOWED: Final = _names(
    "path sep altsep extsep pathsep linesep curdir pardir fspath fsencode fsdecode PathLike"
)
OS_PATH_PURE: Final = _names(
    "join split splitext splitdrive basename dirname normpath normcase commonpath commonprefix"
    " isabs sep altsep extsep pathsep curdir pardir supports_unicode_filenames"
)
OS_REASONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        **_reasons(RANDOMNESS, "urandom getrandom"),
        **_reasons(
            PROCESS,
            "system popen fork forkpty kill killpg posix_spawn posix_spawnp execl execle execlp"
            " execlpe execv execve execvp execvpe spawnl spawnle spawnlp spawnlpe spawnv spawnve"
            " spawnvp spawnvpe _exit abort",
        ),
        **_reasons(CLOCK, "times"),
        **_reasons(
            FILES,
            "open read write listdir scandir walk remove unlink rename replace mkdir makedirs"
            " rmdir stat lstat chdir getcwd",
        ),
    }
)
SYS_FORBIDDEN: Final[Mapping[str, str]] = MappingProxyType(
    {
        **_reasons(
            STREAMS, "stdin stdout stderr __stdin__ __stdout__ __stderr__ displayhook excepthook"
        ),
        **_reasons(SYSTEM, "argv orig_argv exit _getframe settrace setprofile"),
        **_reasons(DYNAMIC, "modules meta_path path path_hooks path_importer_cache"),
    }
)

FORBIDDEN_CALLS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "open": FILES,
        "input": STREAMS,
        "print": STREAMS,
        "breakpoint": STREAMS,
        **_reasons(DYNAMIC, "__import__ exec eval compile"),
    }
)
DYNAMIC_ACCESS: Final = frozenset({"getattr", "setattr", "delattr", "vars"})

_VERBS: Final[Mapping[Role, str]] = MappingProxyType(
    {"import": "imports", "call": "calls", "value": "uses", "base": "subclasses"}
)


@dataclass(frozen=True, order=True)
class Violation:
    """One breach of rule 1; ``col`` is 1-based, like ruff's."""

    path: Path
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def python_files(root: Path) -> list[Path]:
    """Every .py file under ``root`` (or ``root`` itself), sorted: nothing is skipped."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"rule 1 AST guard: no such directory: {root}")
    return sorted(root.rglob("*.py"))


def check_tree(root: Path) -> list[Violation]:
    """Check every .py file under ``root``; violations come back sorted by place."""
    return sorted(violation for path in python_files(root) for violation in check_file(path))


def check_file(path: Path) -> list[Violation]:
    """Check one file; bytes go to ``ast`` so that encoding cookies are honoured."""
    return check_source(path.read_bytes(), path)


def check_source(source: str | bytes, path: Path) -> list[Violation]:
    """Check one module's source text; ``path`` only labels the violations."""
    try:
        tree = ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError) as error:  # ValueError: NUL bytes on Python 3.11
        line = getattr(error, "lineno", None) or 1
        col = getattr(error, "offset", None) or 1
        detail = f"{type(error).__name__}: {getattr(error, 'msg', None) or error}"
        return [Violation(path, line, col, f"cannot be parsed ({detail}) (rule 1: {UNPARSED})")]
    return sorted(set(_Checker(path).run(tree)))


class _Checker:
    """Walks one module: imports first (to learn aliases), then every use of those aliases.

    A local name may stand for several gated names (imported under one name in two places,
    rebound to an alias of another); each use is judged as every one of them.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        # local name -> canonical dotted names it may stand for, in the order learnt
        self.bindings: dict[str, list[str]] = {}
        # local name -> the getattr/setattr/delattr/vars builtins it may hold
        self.builtin_aliases: dict[str, set[str]] = {}

    def run(self, tree: ast.Module) -> Iterator[Violation]:
        nodes = list(ast.walk(tree))
        for node in nodes:
            if isinstance(node, ast.Import):
                yield from self._import(node)
            elif isinstance(node, ast.ImportFrom):
                yield from self._import_from(node)
        self._follow_aliases(nodes)
        roles = _roles(nodes)
        chain_prefixes = {id(node.value) for node in nodes if isinstance(node, ast.Attribute)}
        for node in nodes:
            if isinstance(node, ast.Name):
                yield from self._builtin_name(node, roles.get(id(node), "value"))
            if isinstance(node, ast.Name | ast.Attribute) and id(node) not in chain_prefixes:
                yield from self._reference(node, roles.get(id(node), "value"))
            elif isinstance(node, ast.Call):
                yield from self._dynamic_access(node)
            elif isinstance(node, ast.Constant) and node.value == "__builtins__":
                yield self._violation(node, "uses '__builtins__'", DYNAMIC)

    def _bind(self, local: str, qualified: str) -> bool:
        """Record that ``local`` may stand for ``qualified``; False if already known."""
        known = self.bindings.setdefault(local, [])
        if qualified in known:
            return False
        known.append(qualified)
        return True

    def _follow_aliases(self, nodes: list[ast.AST]) -> None:
        """Bind each simple alias of a gated name (or of getattr & co.) to what it holds.

        An alias of an alias resolves in one more round, so ``len(pairs) + 1`` rounds reach
        every chain in any order (and stop a self-extending ``D = D.x``).
        """
        pairs = [pair for node in nodes for pair in _simple_bindings(node)]
        for _ in range(len(pairs) + 1):
            learnt = False
            for name, value in pairs:
                for qualified in self._qualified(value):
                    learnt |= self._bind(name, qualified)
                if isinstance(value, ast.Name):
                    held = self._builtins_held(value.id) - self.builtin_aliases.get(name, set())
                    if held:
                        self.builtin_aliases.setdefault(name, set()).update(held)
                        learnt = True
            if not learnt:
                return

    def _builtins_held(self, name: str) -> set[str]:
        """The dynamic-access builtins a plain ``name`` may be (itself, or through aliases)."""
        held = set(self.builtin_aliases.get(name, ()))
        if name in DYNAMIC_ACCESS:
            held.add(name)
        return held

    def _import(self, node: ast.Import) -> Iterator[Violation]:
        for alias in node.names:
            top = alias.name.partition(".")[0]
            if top in FORBIDDEN_MODULES:
                yield self._violation(node, f"imports '{alias.name}'", FORBIDDEN_MODULES[top])
            elif _is_gated(top):
                local = alias.asname or top
                self._bind(local, _canonical(alias.name if alias.asname else top))

    def _import_from(self, node: ast.ImportFrom) -> Iterator[Violation]:
        if node.level or node.module is None:  # relative imports stay inside the project
            return
        top = node.module.partition(".")[0]
        for alias in node.names:
            dotted = f"{node.module}.{alias.name}"
            if top in FORBIDDEN_MODULES:
                yield self._violation(node, f"imports '{dotted}'", FORBIDDEN_MODULES[top])
            elif not _is_gated(top):
                continue
            elif alias.name == "*":
                yield self._violation(node, f"star-imports '{node.module}'", EVASION)
            else:
                qualified = _canonical(dotted)
                self._bind(alias.asname or alias.name, qualified)
                yield from self._judged(node, qualified, "import")

    def _reference(self, node: ast.Name | ast.Attribute, role: Role) -> Iterator[Violation]:
        parts = _dotted_parts(node)
        if parts is None:
            return
        if "__builtins__" in parts:
            yield self._violation(node, "uses '__builtins__'", DYNAMIC)
            return
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            return  # rebinding a name is not a use of what it held
        for qualified in self._qualified(node):
            yield from self._judged(node, qualified, role)

    def _builtin_name(self, node: ast.Name, role: Role) -> Iterator[Violation]:
        """Any load of a forbidden builtin: calling it, or naming it to call it later.

        A name that an import or alias also binds is still judged as the builtin: names
        are tracked per file, and the builtin may be what it means in another scope.
        """
        name = node.id
        if isinstance(node.ctx, ast.Load) and name in FORBIDDEN_CALLS:
            verb = "calls" if role == "call" else "uses"
            yield self._violation(node, f"{verb} '{name}'", FORBIDDEN_CALLS[name])

    def _dynamic_access(self, node: ast.Call) -> Iterator[Violation]:
        if not isinstance(node.func, ast.Name) or not node.args:
            return
        for name in sorted(self._builtins_held(node.func.id)):
            for target in self._qualified(node.args[0]):
                yield self._violation(node, f"calls '{name}' on '{target}'", EVASION)

    def _qualified(self, node: ast.expr) -> list[str]:
        """Every gated dotted name ``node`` may stand for (none if it is not one)."""
        parts = _dotted_parts(node)
        if parts is None:
            return []
        return [".".join([bound, *parts[1:]]) for bound in self.bindings.get(parts[0], ())]

    def _judged(self, node: ast.stmt | ast.expr, qualified: str, role: Role) -> Iterator[Violation]:
        verdict = judge(qualified, role)
        if verdict is not None:
            yield Violation(self.path, node.lineno, node.col_offset + 1, verdict)

    def _violation(self, node: ast.stmt | ast.expr, what: str, reason: str) -> Violation:
        return Violation(self.path, node.lineno, node.col_offset + 1, f"{what} (rule 1: {reason})")


def judge(qualified: str, role: Role) -> str | None:
    """The message for using the gated name ``qualified`` in ``role``, or None if allowed."""
    parts = qualified.split(".")
    verb = _VERBS[role]
    if any(part.startswith("__") and part.endswith("__") for part in parts[1:]):
        return f"{verb} '{qualified}' (rule 1: {EVASION})"
    if qualified in GATED_MODULES or qualified == "os.path":
        if role == "import":
            return None
        return f"uses module '{qualified}' as a value (rule 1: {EVASION})"
    reason = _JUDGES[parts[0]](parts, role)
    return None if reason is None else f"{verb} '{qualified}' (rule 1: {reason})"


def _judge_random(parts: list[str], role: Role) -> str | None:
    if parts[1] != "Random":
        fix = f"call `rng.{parts[1]}(...)` on it" if parts[1] in RANDOM_METHODS else "use it"
        return f"{RANDOMNESS}; {fix}, not the hidden global generator"
    if len(parts) == 2 and role in ("call", "base"):
        return f"{RANDOMNESS}; take `rng` as a parameter instead of making one"
    return None  # annotations, isinstance checks and methods of a handed-in generator


def _judge_datetime(parts: list[str], role: Role) -> str | None:
    qualified = ".".join(parts)
    if qualified in DATETIME_CLOCK_READS:
        return CLOCK
    if role == "base" and qualified in DATETIME_CLASSES:
        return f"{CLOCK}; a subclass inherits the clock reads"
    return None


def _judge_os(parts: list[str], role: Role) -> str | None:
    if parts[1] == "path":
        return None if parts[2] in OS_PATH_PURE else f"{FILES} (os.path.{parts[2]} reads the disk)"
    return None if parts[1] in OS_ALLOWED else OS_REASONS.get(parts[1], SYSTEM)


def _judge_sys(parts: list[str], role: Role) -> str | None:
    return SYS_FORBIDDEN.get(parts[1])


_JUDGES: Final = MappingProxyType(
    {"random": _judge_random, "datetime": _judge_datetime, "os": _judge_os, "sys": _judge_sys}
)


def _is_gated(top: str) -> bool:
    return top in GATED_MODULES or top in PATH_MODULES


def _canonical(dotted: str) -> str:
    """Spell posixpath/ntpath/genericpath as os.path so that one table judges them."""
    top, _, rest = dotted.partition(".")
    if top in PATH_MODULES:
        return f"os.path.{rest}" if rest else "os.path"
    return dotted


def _simple_bindings(node: ast.AST) -> Iterator[tuple[str, ast.expr]]:
    """The (plain name, value) pairs ``node`` binds: the aliases the guard follows."""
    if isinstance(node, ast.Assign):
        for target in node.targets:
            yield from _unpacked(target, node.value)
    elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
        yield from _unpacked(node.target, node.value)
    elif isinstance(node, ast.arguments):
        positional = [*node.posonlyargs, *node.args]
        defaulted = positional[len(positional) - len(node.defaults) :]
        for argument, default in zip(defaulted, node.defaults, strict=True):
            yield argument.arg, default
        for argument, kw_default in zip(node.kwonlyargs, node.kw_defaults, strict=True):
            if kw_default is not None:
                yield argument.arg, kw_default


def _unpacked(target: ast.expr, value: ast.expr) -> Iterator[tuple[str, ast.expr]]:
    """``a = x`` gives (a, x); ``a, b = x, y`` gives (a, x) and (b, y), nested alike."""
    if isinstance(target, ast.Name):
        yield target.id, value
    elif (
        isinstance(target, ast.Tuple | ast.List)
        and isinstance(value, ast.Tuple | ast.List)
        and len(target.elts) == len(value.elts)
        and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))
    ):
        for element, element_value in zip(target.elts, value.elts, strict=True):
            yield from _unpacked(element, element_value)


def _dotted_parts(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ['a', 'b', 'c']; None when the chain does not start at a plain name."""
    attributes: list[str] = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(attributes)]


def _roles(nodes: list[ast.AST]) -> dict[int, Role]:
    """Which expressions are called and which are base classes; the rest are plain values."""
    roles: dict[int, Role] = {}
    for node in nodes:
        if isinstance(node, ast.Call):
            roles[id(node.func)] = "call"
        elif isinstance(node, ast.ClassDef):
            roles.update(dict.fromkeys(map(id, node.bases), "base"))
    return roles


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.rule1.ast_guard core``: print violations and exit 1, else one OK line."""
    parser = argparse.ArgumentParser(prog="python -m tests.rule1.ast_guard", description=__doc__)
    parser.add_argument("roots", nargs="+", type=Path, help="trees to check, e.g. core")
    roots: list[Path] = parser.parse_args(argv).roots
    try:
        files = [path for root in roots for path in python_files(root)]
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    violations = sorted(violation for path in files for violation in check_file(path))
    for violation in violations:
        print(violation)
    if violations:
        print(f"rule 1 AST guard: {len(violations)} violation(s)", file=sys.stderr)
        return 1
    names = " ".join(map(str, roots))
    print(f"rule 1 AST guard: OK ({len(files)} files under {names})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
