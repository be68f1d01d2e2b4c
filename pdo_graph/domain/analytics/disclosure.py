"""Disclosure control of a table with all its margins: primary and complementary cell suppression.

A table with dimensions D is published together with every margin: the cells of every level
S ⊆ D (the cells of the dimensions S, summed over the others; the empty level is the grand
total). Each cell of each level is published or withheld.

**Primary suppression.** A cell behind fewer than ``threshold`` children (and at least one) is
withheld: every figure of it, counts and money alike.

**Complementary suppression.** A withheld cell must not be derivable from what is published: not
by subtracting the other cells of a row from its total, nor by any linear combination of published
cells of any level. The rule that guarantees it is the *tower*:

- a hypercube at a level S: a cell t and, for every dimension of S, one other value of it; its
  2^|S| corners (every combination of t's values and the other values) are withheld;
- lifted to every finer level of the table: for each dimension d outside S one value y_d is
  chosen, and at every level U ⊇ S the cells (corner, y restricted to U) are withheld too.

The vector that is +1 on the corners with an even number of "other" values and -1 on the rest,
placed at the finest level at y, sums to zero over every published cell of every level (a cell of
a level lacking one of S's dimensions sums pairs of opposite signs; a cell of a level containing S
is withheld by construction). Adding any multiple of it to the table changes no published figure
and changes every cell of the tower, so none of them is determined by the published figures, by
subtraction or by solving the whole linear system. Every withheld cell belongs to a tower: a
primary cell that no earlier tower covers gets its own hypercube at its level; corners and lifted
cells are in the tower that made them.

**Consistency across tables.** Levels are processed from the coarsest (fewest dimensions) in the
canonical order of dimensions; a hypercube at S is chosen from the cells of S, and each lifted
value y_d from the cells of S ∪ {d}, looking only at what is already withheld there (which, by the
same order, depends only on levels below). So the pattern of a level depends only on the level
and its margins: the same query with fewer dimensions (which publishes exactly those margins)
withholds the same cells, and any set of tables with the same filter is protected together.

Choices prefer cells already withheld, then combinations that exist (a tower through a
combination without data would be weak against the bound "a count is not negative"), then small
cells (least information lost). When no combination with data exists, the tower goes through an
empty combination, which the table then shows as a withheld row, so that an empty combination
does not give the pattern away.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, repeat
from typing import Any

Level = tuple[int, ...]  # indices of the table's dimensions, ascending (canonical order)
Key = tuple[Any, ...]  # the values of a level's dimensions, in the level's order
Cost = tuple[int, int, int]  # (empty combinations, newly withheld cells, their total value)

_ZERO: Cost = (0, 0, 0)
# Candidate values tried per dimension when searching a hypercube (first pass, then a wider one).
_FIRST_PASS = {1: 1_000_000, 2: 8, 3: 6}
_WIDE_PASS = {1: 1_000_000, 2: 40, 3: 16}
_DEFAULT_WIDTH = 3


@dataclass(frozen=True, slots=True)
class Cell:
    value: int
    children: int


@dataclass
class Protection:
    """What to withhold, per level: primary cells, all withheld cells, and withheld empty combinations."""

    primary: dict[Level, set[Key]] = field(default_factory=dict)
    withheld: dict[Level, set[Key]] = field(default_factory=dict)
    empty: dict[Level, set[Key]] = field(default_factory=dict)

    def is_withheld(self, level: Level, key: Key) -> bool:
        return key in self.withheld.get(level, ())

    @property
    def primary_count(self) -> int:
        return sum(len(s) for s in self.primary.values())

    @property
    def withheld_count(self) -> int:
        return sum(len(s) for s in self.withheld.values())


def all_levels(dimensions: int) -> list[Level]:
    """Every subset of the table's dimensions, coarsest first, then in canonical order."""
    return [c for k in range(dimensions + 1) for c in combinations(range(dimensions), k)]


def protect(dimensions: int, cells: Mapping[Level, Mapping[Key, Cell]], threshold: int) -> Protection:
    """Decide which cells of every level to withhold (see the module's docstring)."""
    return _Lattice(dimensions, cells, threshold).run()


class _Lattice:
    def __init__(self, dimensions: int, cells: Mapping[Level, Mapping[Key, Cell]], threshold: int) -> None:
        self.n = dimensions
        self.levels = all_levels(dimensions)
        self.cells: dict[Level, dict[Key, Cell]] = {
            lv: {k: c for k, c in cells.get(lv, {}).items() if c.children > 0} for lv in self.levels
        }
        self.threshold = threshold
        self.withheld: dict[Level, set[Key]] = {lv: set() for lv in self.levels}
        self.covered: dict[Level, set[Key]] = {lv: set() for lv in self.levels}
        self.empty: dict[Level, set[Key]] = {lv: set() for lv in self.levels}
        self.primary: dict[Level, set[Key]] = {
            lv: {k for k, c in self.cells[lv].items() if c.children < threshold} for lv in self.levels
        }
        for lv in self.levels:
            self.withheld[lv] |= self.primary[lv]
        self.finer: dict[Level, list[Level]] = {
            lv: [u for u in self.levels if len(u) > len(lv) and set(lv) <= set(u)] for lv in self.levels
        }
        self._lines: dict[tuple[Level, int], dict[Key, list[Key]]] = {}
        self._domains: dict[tuple[Level, int], list[Any]] = {}

    # --- lookups -----------------------------------------------------------------------------

    def lines(self, level: Level, position: int) -> dict[Key, list[Key]]:
        """Existing cells of ``level`` grouped by their key without ``position`` (the lines along it)."""
        index = self._lines.get((level, position))
        if index is None:
            index = {}
            for key in sorted(self.cells[level]):
                index.setdefault(key[:position] + key[position + 1 :], []).append(key)
            self._lines[(level, position)] = index
        return index

    def domain(self, level: Level, position: int) -> list[Any]:
        values = self._domains.get((level, position))
        if values is None:
            values = sorted({key[position] for key in self.cells[level]})
            self._domains[(level, position)] = values
        return values

    def cost(self, level: Level, key: Key) -> Cost:
        if key in self.withheld[level]:
            return _ZERO
        cell = self.cells[level].get(key)
        if cell is None:
            return (1, 0, 0)
        return (0, 1, abs(cell.value))

    def total_cost(self, level: Level, keys: Iterable[Key]) -> Cost:
        a = b = c = 0
        for key in keys:
            x, y, z = self.cost(level, key)
            a, b, c = a + x, b + y, c + z
        return (a, b, c)

    # --- the algorithm -------------------------------------------------------------------------

    def run(self) -> Protection:
        for level in self.levels:
            for key in sorted(self.withheld[level] - self.covered[level]):
                if key in self.covered[level]:
                    continue
                corners = self.hypercube(level, key)
                if corners is None:
                    # a dimension of this level has a single value in the whole table: the level is
                    # its margin without that dimension over again, and the towers through that
                    # margin (processed before) already withhold the cell's twin and lift onto it
                    self.covered[level].add(key)
                    continue
                self.tower(level, corners)
        return Protection(
            primary={lv: s for lv, s in self.primary.items() if s},
            withheld={lv: s for lv, s in self.withheld.items() if s},
            empty={lv: s for lv, s in self.empty.items() if s},
        )

    def hypercube(self, level: Level, t: Key) -> list[Key] | None:
        """The corners of the cheapest hypercube through ``t`` at ``level`` (``t`` first).

        A depth-first search over one other value per dimension, the cheapest candidates first;
        a partial choice is dropped as soon as its corners cost as much as the best found (costs
        only grow), so the first complete hypercube with data prunes almost everything else."""
        k = len(level)
        if k == 0:
            return [t]
        best: list[Any] = [None, None]  # cost, choice

        def search(position: int, chosen: list[Any], cost: Cost) -> None:
            if position == k:
                if best[0] is None or (cost, tuple(chosen)) < (best[0], best[1]):
                    best[0], best[1] = cost, tuple(chosen)
                return
            for value in options[position]:
                corners = [
                    tuple(
                        value if p == position else (chosen[p] if p < position and mask >> p & 1 else t[p])
                        for p in range(k)
                    )
                    for mask in range(1 << position)
                ]
                a, b, c = cost
                for x, y, z in map(self.cost, repeat(level), corners):
                    a, b, c = a + x, b + y, c + z
                if best[0] is not None and (a, b, c) >= best[0]:
                    continue
                chosen.append(value)
                search(position + 1, chosen, (a, b, c))
                chosen.pop()

        for widths in (_FIRST_PASS, _WIDE_PASS):
            width = widths.get(k, _DEFAULT_WIDTH)
            options = [self.alternatives(level, t, p, width) for p in range(k)]
            if any(not o for o in options):
                return None
            search(0, [], _ZERO)
            if best[0] is not None and best[0][0] == 0:
                break
        assert best[1] is not None
        return _corners(t, best[1])

    def alternatives(self, level: Level, t: Key, position: int, width: int) -> list[Any]:
        """Other values of one dimension for a hypercube through ``t``: those with data on t's line
        first (cheapest first), else any value the level has (an empty combination)."""
        line = self.lines(level, position).get(t[:position] + t[position + 1 :], [])
        ranked = sorted((self.cost(level, key), key[position]) for key in line if key[position] != t[position])
        values = [v for _, v in ranked[:width]]
        if not values:
            values = [v for v in self.domain(level, position) if v != t[position]][:width]
        return values

    def tower(self, level: Level, corners: Sequence[Key]) -> None:
        """Withhold the hypercube and lift it onto every finer level of the table."""
        lift: dict[int, Any] = {}
        for d in range(self.n):
            if d not in level:
                lift[d] = self.lift_value(level, corners, d)
        for key in corners:
            self.mark(level, key)
        for finer in self.finer[level]:
            for c in corners:
                self.mark(finer, _compose(finer, level, c, lift))

    def lift_value(self, level: Level, corners: Sequence[Key], d: int) -> Any:
        """The value of dimension ``d`` at which the hypercube is lifted: decided at level ∪ {d}."""
        finer = tuple(sorted((*level, d)))
        position = finer.index(d)
        lines = self.lines(finer, position)
        candidates: set[Any] = set()
        for c in corners:
            candidates.update(key[position] for key in lines.get(c, ()))
            if candidates:
                break
        if not candidates:
            candidates = set(self.domain(finer, position)[:1])
        best: tuple[Cost, Any] | None = None
        for u in sorted(candidates):
            found = (self.total_cost(finer, (_insert(c, position, u) for c in corners)), u)
            if best is None or found < best:
                best = found
        assert best is not None
        return best[1]

    def mark(self, level: Level, key: Key) -> None:
        self.withheld[level].add(key)
        self.covered[level].add(key)
        if key not in self.cells[level]:
            self.empty[level].add(key)


def _corners(t: Key, others: Sequence[Any]) -> list[Key]:
    """Every combination of t's values and the other values (t first)."""
    k = len(t)
    out: list[Key] = []
    for mask in range(1 << k):
        out.append(tuple(others[p] if mask >> p & 1 else t[p] for p in range(k)))
    return out


def _insert(key: Key, position: int, value: Hashable) -> Key:
    return (*key[:position], value, *key[position:])


def _compose(finer: Level, level: Level, key: Key, lift: Mapping[int, Any]) -> Key:
    """The key at ``finer`` of a cell of ``level`` lifted at the chosen values."""
    at = dict(zip(level, key, strict=True))
    return tuple(at[d] if d in at else lift[d] for d in finer)
