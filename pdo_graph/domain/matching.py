"""Matching keys: what a person cannot see does not make a second child.

One place for the Unicode rules behind duplicate detection (152-ФЗ fraud in the field: the same
child applied for twice under a name that only *looks* the same):

- compatibility forms (NFKC): fullwidth, mathematical, superscript and circled letters and digits;
- invisible characters: format characters (Unicode category Cf: zero-width space/joiners, soft
  hyphen, BOM, bidi marks), the other default-ignorable code points (variation selectors, the
  combining grapheme joiner, Hangul fillers) and control characters;
- every kind of space becomes one space (none in the key); every dash (category Pd, the minus
  sign) one hyphen, with no spaces around it;
- combining marks (stress accents, ё's diaeresis) are dropped, except the breve, so й stays й;
- look-alikes (UTS #39 confusables, the Unicode data shipped by the ``confusable_homoglyphs``
  package): every character that looks like a Cyrillic letter *in its own case* becomes that
  letter (Latin ``B`` → ``В``, Latin ``a`` → ``а``, Greek ``Α`` → ``А``, digit ``3`` → ``З``), before
  case is folded, so a capital-letter look-alike is caught even where the small letters differ
  (``B``/``В`` but ``b``/``в``); characters with no Cyrillic look-alike fold to their Latin
  prototype; a sequence that looks like one Cyrillic letter (``Ь`` + ``І`` for ``Ы``) becomes it;
- case (full case folding) and ё/е.

Russian letters are never merged with each other: the key of an honest Cyrillic name is that
name, case-folded, with ё as е and single spaces.

Digits of any script are read as digits (``unicodedata.decimal`` after NFKC): a СНИЛС in
fullwidth, Arabic-Indic, Devanagari, superscript or mathematical digits is the same СНИЛС.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from confusable_homoglyphs.confusables import confusables_data

BREVE = "\u0306"
# Default_Ignorable_Code_Point (DerivedCoreProperties.txt) outside category Cf: invisible, yet
# letters or marks to Unicode. Blank fillers that render as a space count as one.
_IGNORABLE = frozenset("\u034f\u17b4\u17b5\u180b\u180c\u180d\u180f" + "".join(chr(c) for c in range(0xFE00, 0xFE10)))
_BLANKS = frozenset("\u115f\u1160\u2800\u3164\uffa0")  # Hangul fillers, the Braille blank
_DASHES = frozenset("\u2212\u2043\ufe63\uff0d")  # minus sign, hyphen bullet (Sm/Po); small/fullwidth hyphen-minus
_SPACES = re.compile(r"\s+")
_HYPHEN_SPACING = re.compile(r" ?- ?")


def _invisible(c: str) -> bool:
    category = unicodedata.category(c)
    return category in ("Cf", "Cc", "Cs", "Co", "Cn") or c in _IGNORABLE


def visible_text(text: str) -> str:
    """NFKC, invisible characters removed, spaces and dashes unified (no case or look-alike folding)."""
    out: list[str] = []
    for c in unicodedata.normalize("NFKC", text):
        if c.isspace() or c in _BLANKS:
            out.append(" ")
        elif _invisible(c):
            continue
        elif c in _DASHES or unicodedata.category(c) == "Pd":
            out.append("-")
        else:
            out.append(c)
    return _HYPHEN_SPACING.sub("-", _SPACES.sub(" ", "".join(out)).strip())


def _is_cyrillic(c: str) -> bool:
    return len(c) == 1 and unicodedata.name(c, "").startswith("CYRILLIC")


def _is_russian(c: str) -> bool:
    return "\u0410" <= c <= "\u044f" or c in "Ёё"


@cache
def _component(c: str) -> frozenset[str]:
    """Every single character confusable with ``c`` (the UTS #39 class: a prototype and its sources)."""
    seen = {c}
    todo = [c]
    while todo:
        for entry in confusables_data.get(todo.pop(), ()):
            other = entry["c"]
            if len(other) == 1 and other not in seen:
                seen.add(other)
                todo.append(other)
    return frozenset(seen)


def _same_case(a: str, b: str) -> bool:
    return a.isupper() == b.isupper() and a.islower() == b.islower()


@cache
def _fold_char(c: str) -> str:
    """A character as a Russian reader sees it: the Cyrillic letter it looks like, else its prototype."""
    if _is_cyrillic(c) or not (c.isalpha() or c.isdigit()):
        return c
    component = _component(c)
    cyrillic = [d for d in component if _is_cyrillic(d)]
    if cyrillic:
        return min(cyrillic, key=lambda d: (not _same_case(c, d), not _is_russian(d), d))
    if c.isdigit():
        return c
    ascii_letters = [d for d in component if d.isascii() and d.isalpha()]
    return min(ascii_letters, key=lambda d: (not _same_case(c, d), d)) if ascii_letters else c


def _fold_letters(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(_fold_char(c) for c in decomposed if not unicodedata.combining(c) or c == BREVE)
    return unicodedata.normalize("NFC", kept).casefold().replace("ё", "е")


@cache
def _sequences() -> tuple[tuple[str, str], ...]:
    """Sequences that look like one Cyrillic letter (UTS #39 multi-character prototypes), folded."""
    pairs: dict[str, str] = {}
    for code in range(0x0400, 0x0530):
        letter = chr(code)
        for entry in confusables_data.get(letter, ()):
            target = entry["c"]
            if len(target) > 1:
                pattern = _fold_letters(target)
                folded = _fold_letters(letter)
                if len(pattern) > 1 and pattern != folded:
                    pairs.setdefault(pattern, folded)
    return tuple(sorted(pairs.items(), key=lambda p: -len(p[0])))


def name_key(full_name: str) -> str:
    """The matching key of a person's name: equal for every spelling that looks the same.

    Spaces are left out of the key altogether: a blank that renders as nothing, or nothing that
    renders as a blank, cannot tell two spellings apart."""
    key = _fold_letters(visible_text(full_name)).replace(" ", "")
    for pattern, letter in _sequences():
        key = key.replace(pattern, letter)
    return key


def digits(text: str) -> str | None:
    """The decimal digits of an identifier in any script, separators (spaces, dashes, invisible
    characters) dropped; None when anything else is in it."""
    out: list[str] = []
    for c in visible_text(text):
        if c in " -":
            continue
        value = unicodedata.decimal(c, None)
        if value is None:
            return None
        out.append(str(value))
    return "".join(out)
