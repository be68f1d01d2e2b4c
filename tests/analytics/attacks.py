"""An attacker of published tables: recover withheld cells from what a table (and its margins) shows.

A table is given as its levels: for every subset of its dimensions, the cells of that level, each
either published (a value) or withheld (None). Values are additive: a cell of a level is the sum of
the cells of any finer level below it (the attacker knows this; a combination absent from the
finest level is known to be zero).

Two attacks:
- ``peel``: subtraction, repeated: wherever a published cell has exactly one unknown cell among its
  children along some dimension, that child is its total minus the others; recovered values are
  used in the next round, until nothing more comes out.
- ``solve``: the whole linear system. The unknowns are the withheld cells of the finest level; every
  published cell of every level is one equation. A withheld cell (of any level) is determined when
  its functional is orthogonal to every vector of the system's null space; this is computed exactly
  (Gaussian elimination modulo two large primes, both must agree).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

Level = tuple[int, ...]
Key = tuple[Any, ...]
Table = Mapping[Level, Mapping[Key, int | None]]

PRIMES = (2**61 - 1, 2**31 - 1)


def levels_of(dimensions: int) -> list[Level]:
    return [c for k in range(dimensions + 1) for c in combinations(range(dimensions), k)]


def project(key: Key, finer: Level, level: Level) -> Key:
    at = dict(zip(finer, key, strict=True))
    return tuple(at[d] for d in level)


def peel(dimensions: int, table: Table) -> dict[tuple[Level, Key], int]:
    """Every withheld cell that repeated subtraction along single dimensions recovers."""
    known: dict[tuple[Level, Key], int] = {}
    for level, cells in table.items():
        for key, value in cells.items():
            if value is not None:
                known[(level, key)] = value
    recovered: dict[tuple[Level, Key], int] = {}
    changed = True
    while changed:
        changed = False
        for level in levels_of(dimensions):
            for d in range(dimensions):
                if d in level:
                    continue
                finer = tuple(sorted((*level, d)))
                children: dict[Key, list[Key]] = {}
                for key in table.get(finer, {}):
                    children.setdefault(project(key, finer, level), []).append(key)
                for parent, kids in children.items():
                    if (level, parent) not in known:
                        unknown_parent = True
                    else:
                        unknown_parent = False
                    unknown = [k for k in kids if (finer, k) not in known]
                    if not unknown_parent and len(unknown) == 1:
                        value = known[(level, parent)] - sum(known[(finer, k)] for k in kids if k != unknown[0])
                        known[(finer, unknown[0])] = recovered[(finer, unknown[0])] = value
                        changed = True
                    elif unknown_parent and not unknown and (level, parent) in table.get(level, {}):
                        value = sum(known[(finer, k)] for k in kids)
                        known[(level, parent)] = recovered[(level, parent)] = value
                        changed = True
    return recovered


def solve(dimensions: int, table: Table) -> set[tuple[Level, Key]]:
    """The withheld cells (of every level) that the published cells determine."""
    results = [_determined(dimensions, table, p) for p in PRIMES]
    assert results[0] == results[1], "the two moduli disagree"
    return results[0]


def _determined(dimensions: int, table: Table, p: int) -> set[tuple[Level, Key]]:
    finest = tuple(range(dimensions))
    fine = table.get(finest, {})
    unknowns = sorted(k for k, v in fine.items() if v is None)
    index = {k: i for i, k in enumerate(unknowns)}
    below: dict[tuple[Level, Key], list[int]] = {}
    for level in levels_of(dimensions):
        for key in fine:
            if key in index:
                below.setdefault((level, project(key, finest, level)), []).append(index[key])
    # equations: every published cell with unknown finest cells below it (coefficients all 1)
    rows: list[dict[int, int]] = []
    for level, cells in table.items():
        for key, value in cells.items():
            if value is not None and (level, key) in below:
                rows.append(dict.fromkeys(below[(level, key)], 1))
    pivots = _rref(rows, p)
    pivot_cols = {col for col, _ in pivots}
    free = [c for c in range(len(unknowns)) if c not in pivot_cols]
    # null space basis: one vector per free column
    basis: list[dict[int, int]] = []
    for f in free:
        v = {f: 1}
        for col, row in pivots:
            coef = row.get(f, 0)
            if coef:
                v[col] = (-coef) % p
        basis.append(v)
    determined: set[tuple[Level, Key]] = set()
    for level, cells in table.items():
        for key, value in cells.items():
            if value is not None:
                continue
            support = below.get((level, key), [])
            if not support:
                determined.add((level, key))  # withheld, yet every cell below it is published
                continue
            if all(sum(v.get(i, 0) for i in support) % p == 0 for v in basis):
                determined.add((level, key))
    return determined


def _rref(rows: list[dict[int, int]], p: int) -> list[tuple[int, dict[int, int]]]:
    """Reduced row echelon form modulo p of sparse rows; returns (pivot column, row) pairs."""
    pivots: list[tuple[int, dict[int, int]]] = []
    for row in rows:
        r = {c: v % p for c, v in row.items() if v % p}
        for col, prow in pivots:
            coef = r.get(col)
            if coef:
                for c, v in prow.items():
                    nv = (r.get(c, 0) - coef * v) % p
                    if nv:
                        r[c] = nv
                    else:
                        r.pop(c, None)
        if not r:
            continue
        col = min(r)
        inv = pow(r[col], p - 2, p)
        r = {c: v * inv % p for c, v in r.items()}
        # keep every pivot row reduced in the new pivot column
        for i, (pc, prow) in enumerate(pivots):
            coef = prow.get(col)
            if coef:
                for c, v in r.items():
                    nv = (prow.get(c, 0) - coef * v) % p
                    if nv:
                        prow[c] = nv
                    else:
                        prow.pop(c, None)
                pivots[i] = (pc, prow)
        pivots.append((col, r))
    return pivots
