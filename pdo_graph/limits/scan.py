"""Step 2: tokens and bracket nesting, counted in one pass that cannot backtrack."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice

MAX_NESTING = 64
"""Brackets (``{ ( [``) nest at most this deep: deeper documents would exhaust the parser's stack."""

_TOKEN = re.compile(
    r"#[^\n\r]*+"  # comment (not counted)
    r'|"""(?:[^"\\]++|\\[\s\S]?|"(?!""))*+(?:(""")|\Z)'  # block string; unterminated: to the end
    r'|"(?:[^"\\\n\r]++|\\[^\n\r]?)*+(")?'  # string; unterminated: to the end of the line
    r"|\.\.\.|-?\d++(?:\.\d++)?+(?:[eE][+-]?\d++)?+|[_A-Za-z][_0-9A-Za-z]*+|[!$&():=@\[\]{}|]"
)
_OPEN, _CLOSE = frozenset("{(["), frozenset("})]")


@dataclass(frozen=True)
class Scan:
    tokens: int  # counted up to max_tokens + 1
    nesting: int  # deepest bracket nesting seen
    unterminated: bool = False  # a string without its closing quotes (a syntax error)


def scan(query: str, max_tokens: int) -> Scan:
    """Tokens (comments excluded) and bracket nesting in one linear pass; stops after ``max_tokens``."""
    tokens = depth = deepest = seen = 0
    unterminated = False
    cap = 4 * max_tokens + 1  # comments are matched (to be skipped) too, and count towards this cap
    for match in islice(_TOKEN.finditer(query), cap):
        seen += 1
        head = query[match.start()]
        if head == "#":
            continue
        tokens += 1
        if tokens > max_tokens:
            break
        if head in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif head in _CLOSE:
            depth -= 1
        elif head == '"' and match.lastindex is None:
            unterminated = True
    else:
        if seen == cap:  # stopped by the cap: a flood of comments
            tokens = max_tokens + 1
    return Scan(tokens, deepest, unterminated)


def count_tokens(query: str, max_tokens: int = 10**9) -> int:
    """About how many lexical tokens the document has (comments excluded), counted up to ``max_tokens + 1``."""
    return scan(query, max_tokens).tokens
