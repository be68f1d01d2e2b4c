"""The README's executable blocks: how they are marked, read and checked (no server here; the
walk-through test in ``test_readme_walkthrough.py`` runs them).

The convention (also written, for README authors, in a comment at the top of the README's
"First steps in GraphiQL"):

- ```` ```sh step ````: every line is a command a reader types in the repository's folder; only
  ``.venv/bin/pdo-graph ...`` commands. A trailing ``# → <name>`` keeps what the command prints
  (stripped) as ``<name>``, e.g. ``# → <guardian token>``.
- ```` ```graphql step ROLE ````: one named operation, sent as the reader sends it from GraphiQL
  with ``{"Authorization": "Bearer <ROLE token>"}`` in the Headers tab (``<ROLE token>`` is a
  name kept by an earlier step); ``anyone`` sends no header. A ``subscription`` runs over the
  WebSocket, its first message being the answer.
- ```` ```json answer ```` right after a step: what it answers, in part. Every key shown must be
  there with the value shown; objects may hold more keys; a list holds exactly the items shown,
  unless its last item is ``"…"`` (then more may follow). A string ``"<name>"`` keeps the value
  found there as ``<name>`` the first time and must equal it afterwards. Any ``errors``, and any
  non-empty ``userErrors`` that the answer does not show, fail the step.
- ``<name>`` anywhere in a step or an answer is replaced by the kept value. Dates are computed,
  never written: ``<today>``, ``<this month>`` (its first day), either one ``+ N`` or ``- N``
  ``days``/``months``/``years`` (``<today - 10 years>``), as YYYY-MM-DD.
- Any other ```` ```graphql ```` block of the README is an error: every GraphQL block runs.
"""

from __future__ import annotations

import calendar
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from graphql import OperationDefinitionNode, parse

FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
PLACEHOLDER = re.compile(r"<([^<>\n]+)>")
KEEP = re.compile(r"#\s*→\s*<([^<>]+)>\s*$")
COMPUTED = re.compile(r"^(today|this month)(?:\s*([+-])\s*(\d+)\s+(day|month|year)s?)?$")
MORE = "…"
COMMAND = ".venv/bin/pdo-graph"


class ReadmeError(AssertionError):
    """A README block that breaks the convention, or a step whose answer differs from the README's."""


@dataclass
class Step:
    kind: str  # "sh" or "graphql"
    line: int  # where the block starts in README.md (1-based)
    body: str
    role: str = ""  # graphql: whose token
    answer: Any = None  # graphql: the parsed ``json answer`` block
    answer_line: int = 0

    @property
    def where(self) -> str:
        return f"README.md:{self.line}"

    def operation(self) -> tuple[str, str]:
        """(operation type, name) of the block's one named operation."""
        operations = [d for d in parse(self.body).definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1 or operations[0].name is None:
            raise ReadmeError(f"{self.where}: a GraphQL step is exactly one named operation")
        return operations[0].operation.value, operations[0].name.value


def steps(readme: str) -> list[Step]:
    """The README's steps in order, each GraphQL step with its answer."""
    found: list[Step] = []
    for match in FENCE.finditer(readme):
        line = readme.count("\n", 0, match.start()) + 1
        words = match.group("info").split()
        body = _dedent(match.group("body"), len(match.group("indent")))
        language, rest = (words[0], words[1:]) if words else ("", [])
        if language == "json" and rest == ["answer"]:
            if not found or found[-1].kind != "graphql" or found[-1].answer is not None:
                raise ReadmeError(f"README.md:{line}: an answer follows the GraphQL step it belongs to")
            try:
                found[-1].answer = json.loads(body)
            except json.JSONDecodeError as e:
                raise ReadmeError(f"README.md:{line}: the answer is not JSON: {e}") from e
            found[-1].answer_line = line
        elif language == "sh" and rest == ["step"]:
            found.append(Step("sh", line, body))
        elif language == "graphql":
            if len(rest) != 2 or rest[0] != "step":
                raise ReadmeError(f"README.md:{line}: a GraphQL block is a step: ```graphql step ROLE")
            found.append(Step("graphql", line, body, role=rest[1]))
    for step in found:
        if step.kind == "graphql":
            step.operation()
            if step.answer is None:
                raise ReadmeError(f"{step.where}: a GraphQL step is followed by its ```json answer")
    return found


def _dedent(body: str, indent: int) -> str:
    return "\n".join(line[indent:] if line[:indent].isspace() else line for line in body.splitlines())


def computed(name: str, today: date) -> str | None:
    """The date a computed name stands for (YYYY-MM-DD), or None when the name is not a date."""
    match = COMPUTED.match(" ".join(name.split()))
    if match is None:
        return None
    base, sign, count, unit = match.groups()
    day = today if base == "today" else today.replace(day=1)
    if sign:
        n = int(count) * (1 if sign == "+" else -1)
        if unit == "day":
            day = date.fromordinal(day.toordinal() + n)
        else:  # the same day of the month, or the month's last day (31 January + 1 month: 28 February)
            year, month = divmod(day.month - 1 + n * (12 if unit == "year" else 1), 12)
            year, month = day.year + year, month + 1
            day = date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    return day.isoformat()


@dataclass
class Names:
    """The values kept so far, and today's computed dates."""

    today: date
    kept: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        return computed(name, self.today) or self.kept.get(" ".join(name.split()))

    def fill(self, text: str, where: str) -> str:
        """``text`` with every ``<name>`` replaced; a name nothing has kept yet is an error."""

        def one(match: re.Match[str]) -> str:
            value = self.value(match.group(1))
            if value is None:
                raise ReadmeError(f"{where}: <{match.group(1)}> is used before any step keeps it")
            return value

        return PLACEHOLDER.sub(one, text)


def commands(step: Step, names: Names) -> Iterator[tuple[list[str], str | None]]:
    """(arguments after ``pdo-graph``, the name its output is kept as) for each line of a sh step."""
    for offset, raw in enumerate(step.body.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"README.md:{step.line + offset}"
        keep = KEEP.search(line)
        command = line[: keep.start()] if keep else line
        words = shlex.split(names.fill(command, where), comments=True)
        if not words or words[0] != COMMAND:
            raise ReadmeError(f"{where}: a sh step runs {COMMAND} commands only")
        yield words[1:], " ".join(keep.group(1).split()) if keep else None


def check(actual: Any, step: Step, names: Names) -> None:
    """The answer matches the README's (keeping new names), and nothing unannounced went wrong."""
    where = f"README.md:{step.answer_line}"
    try:
        _match(actual, step.answer, names, where, "")
    except ReadmeError as e:  # the whole answer, to write the README's from
        raise ReadmeError(f"{e}\nthe server answered: {json.dumps(actual, ensure_ascii=False)[:3000]}") from None
    if "errors" in actual and "errors" not in step.answer:
        raise ReadmeError(f"{where}: errors the README does not show: {actual['errors']}")
    for path, errors in _user_errors(actual, ""):
        if not _shown(step.answer, path):
            raise ReadmeError(f"{where}: userErrors at {path} the README does not show: {errors}")


def _match(actual: Any, expected: Any, names: Names, where: str, path: str) -> None:
    def differ(why: str) -> ReadmeError:
        return ReadmeError(f"{where}: at {path or 'the top'}: {why}")

    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise differ(f"expected an object, got {actual!r}")
        for key, value in expected.items():
            if key not in actual:
                raise differ(f"no {key!r} in {json.dumps(actual, ensure_ascii=False)[:500]}")
            _match(actual[key], value, names, where, f"{path}.{key}")
    elif isinstance(expected, list):
        if not isinstance(actual, list):
            raise differ(f"expected a list, got {actual!r}")
        open_ended = bool(expected) and expected[-1] == MORE
        items = expected[:-1] if open_ended else expected
        if len(actual) < len(items) or (not open_ended and len(actual) != len(items)):
            raise differ(f"expected {len(items)}{' or more' if open_ended else ''} items, got {len(actual)}: {actual}")
        for i, item in enumerate(items):
            _match(actual[i], item, names, where, f"{path}[{i}]")
    elif isinstance(expected, str) and (whole := re.fullmatch(r"<([^<>\n]+)>", expected)):
        name = " ".join(whole.group(1).split())
        known = names.value(name)
        if known is None:
            if isinstance(actual, (dict, list)) or actual is None:
                raise differ(f"<{name}> keeps a value, got {actual!r}")
            names.kept[name] = str(actual)
        elif str(actual) != known:
            raise differ(f"expected <{name}> = {known!r}, got {actual!r}")
    elif isinstance(expected, str):
        wanted = names.fill(expected, where)
        if actual != wanted:
            raise differ(f"expected {wanted!r}, got {actual!r}")
    elif actual != expected or type(actual) is not type(expected):
        raise differ(f"expected {expected!r}, got {actual!r}")


def _user_errors(value: Any, path: str) -> Iterator[tuple[str, list[Any]]]:
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if key == "userErrors" and isinstance(item, list) and item:
                yield here, item
            else:
                yield from _user_errors(item, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _user_errors(item, f"{path}[{i}]")


def _shown(answer: Any, path: str) -> bool:
    """The README's answer shows a non-empty list at ``path`` (``.a.b[0].userErrors``)."""
    here: Any = answer
    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        if key:
            if not isinstance(here, Mapping) or key not in here:
                return False
            here = here[key]
        else:
            if not isinstance(here, list) or int(index) >= len(here) or here[int(index)] == MORE:
                return False
            here = here[int(index)]
    return isinstance(here, list) and bool(here)
