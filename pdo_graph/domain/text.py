"""Text hygiene: which strings any input may carry at all.

One rule for every string that enters through the API (names, reasons, keys, numbers, ids):

- no control characters: C0 (U+0000-U+001F), DEL (U+007F) and C1 (U+0080-U+009F), except tab, line
  feed and carriage return, which free text (descriptions, reasons, reviews, keys in PEM) may hold.
  Whether a field is one line is the field's own rule (names are collapsed to one line by the
  domain); identifiers (GraphQL ``ID``) allow no control character at all;
- no unpaired surrogates (U+D800-U+DFFF): they are not text and PostgreSQL refuses them;
- at most ``MAX_TEXT`` characters (``MAX_ID`` for identifiers); fields have tighter limits of their own.

Look-alike letters, invisible format characters and digits of other scripts are not refused here:
matching rules normalise them where identity matters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pdo_graph.domain.errors import ErrorCode, Problem

MAX_TEXT = 20_000
MAX_ID = 200

_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_ID = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str, field: Sequence[str], *, identifier: bool = False) -> Problem | None:
    """Why ``value`` cannot be accepted as text (None when it can)."""
    limit = MAX_ID if identifier else MAX_TEXT
    if len(value) > limit:
        return Problem(ErrorCode.INVALID, "text_too_long", field, max=limit)
    bad = (_NOT_ID if identifier else _NOT_TEXT).search(value)
    if bad is None:
        return None
    char = bad.group()
    if "\ud800" <= char <= "\udfff":
        return Problem(ErrorCode.INVALID, "text_surrogate", field)
    return Problem(ErrorCode.INVALID, "text_control", field, code=f"U+{ord(char):04X}")
