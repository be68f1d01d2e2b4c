"""Russian identifiers with checksums: ИНН (10 or 12 digits) and СНИЛС (11 digits)."""

from __future__ import annotations

from pdo_graph.domain.matching import digits


def normalize_digits(value: str) -> str:
    """The decimal digits of an identifier written in any script, separators dropped; the text
    itself when something else is in it (it then fails its checksum)."""
    found = digits(value)
    return value.strip() if found is None else found


def _inn_check(digits: list[int], weights: tuple[int, ...]) -> int:
    return sum(d * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def is_valid_inn(value: str) -> bool:
    """ИНН of an organisation (10 digits) or an individual (12 digits) with valid check digits."""
    if not (value.isascii() and value.isdigit()) or len(value) not in (10, 12):
        return False
    d = [int(c) for c in value]
    if len(d) == 10:
        return _inn_check(d, (2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[9]
    return (
        _inn_check(d, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[10]
        and _inn_check(d, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[11]
    )


def snils_checksum(first9: str) -> int:
    total = sum(int(c) * (9 - i) for i, c in enumerate(first9))
    if total < 100:
        return total
    if total in (100, 101):
        return 0
    rest = total % 101
    return 0 if rest == 100 else rest


def is_valid_snils(value: str) -> bool:
    """СНИЛС: 11 digits, the last two a checksum of the first nine."""
    if not (value.isascii() and value.isdigit()) or len(value) != 11:
        return False
    return snils_checksum(value[:9]) == int(value[9:])


def inn_with_checksum(first9: str) -> str:
    """Complete a 9-digit prefix into a valid 10-digit organisation ИНН (demo data, tests)."""
    d = [int(c) for c in first9]
    return first9 + str(_inn_check(d, (2, 4, 10, 3, 5, 9, 4, 6, 8)))


def inn12_with_checksum(first10: str) -> str:
    """Complete a 10-digit prefix into a valid 12-digit ИНН of an individual (demo data, tests)."""
    d = [int(c) for c in first10]
    d.append(_inn_check(d, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)))
    d.append(_inn_check(d, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)))
    return "".join(str(x) for x in d)


def snils_with_checksum(first9: str) -> str:
    return f"{first9}{snils_checksum(first9):02d}"


def format_snils(digits11: str) -> str:
    """000-000-000 00, as printed on the card."""
    return f"{digits11[:3]}-{digits11[3:6]}-{digits11[6:9]} {digits11[9:]}"
