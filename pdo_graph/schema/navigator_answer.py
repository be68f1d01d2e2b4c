"""The navigator's page shaped straight from the rows of its one statement.

A search page holds up to a hundred programs, each with its provider and its groups: hundreds of
fields, each of which graphql-core would resolve on its own (microseconds apiece, most of a search's
CPU). When the selection of ``programs`` asks only for what the search's statement reads (the
connection, the programs' plain fields, their provider, their groups' plain fields; aliases,
fragments and ``__typename`` as they come), the selection is compiled once per document into a
*plan*: which columns go where under which response key. The resolver then runs the statement with
the provider and groups read along (``reads.catalog.Along``) and returns the plan's answer as
:class:`~pdo_graph.schema.completed.Completed`.

Whatever the plan does not shape exactly as field-by-field execution would, it refuses
(``Unsupported``) and the field is resolved the ordinary way: directives (``@skip``, ``@include``),
a group's reviews or opening, a groups page with ``after`` or a ``first`` out of range (the ordinary
path answers that with its error). Values are serialized as graphql-core serializes the scalars they
stand for (ids and cursors by the same functions); ``tests/catalog/test_search_answer.py`` compares
both paths on generated searches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLObjectType,
    GraphQLSchema,
    IntValueNode,
    NullValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
)

from pdo_graph.db.tables import DIRECTIONS, FUNDING_KINDS
from pdo_graph.domain import search as search_domain
from pdo_graph.ids import encode_id
from pdo_graph.reads.base import row_columns
from pdo_graph.reads.catalog import GROUP_INDEX, Along, ProviderRow, groups_of
from pdo_graph.schema.base import MAX_PAGE, encode_cursor, money
from pdo_graph.schema.selection import collect_fields

Get = Callable[[Any], Any]
Fields = list[tuple[str, str, list[FieldNode]]]  # response key, field name, its nodes


class Unsupported(Exception):
    """The selection asks for something the plan does not shape (the ordinary path answers it)."""


@dataclass(frozen=True)
class Page:
    """What the connection's fields are shaped from."""

    page: search_domain.SearchPage
    rows: Sequence[Any]  # the programs of the page (up to ``first``)
    first: int
    after: str | None


@dataclass(frozen=True)
class Plan:
    along: Along
    shape: Callable[[Page], dict[str, Any]]


class _Compiler:
    """One selection of ``programs`` into a plan (the variables it reads are recorded)."""

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]):
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.read: list[str] = []  # names of the variables the plan depends on
        self.env: dict[str, Any] = {}  # the names the generated code uses
        self.provider = False
        self.groups = False

    # --- the selection, as graphql-core collects it ---------------------------------------------

    def fields(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode]) -> Fields:
        sets = [node.selection_set for node in nodes if node.selection_set is not None]
        grouped = collect_fields(self.schema, self.fragments, type_, sets, Unsupported)
        return [(key, field_nodes[0].name.value, field_nodes) for key, field_nodes in grouped.items()]

    def value(self, node: ValueNode | None) -> Any:
        """An argument's value (literal or variable; an absent or null one is None)."""
        if node is None or isinstance(node, NullValueNode):
            return None
        if isinstance(node, VariableNode):
            self.read.append(node.name.value)
            return self.variables.get(node.name.value)
        if isinstance(node, IntValueNode):
            return int(node.value)
        raise Unsupported("argument")

    def argument(self, node: FieldNode, name: str) -> Any:
        for arg in node.arguments or ():
            if arg.name.value == name:
                return self.value(arg.value)
        return None

    def bind(self, value: Any) -> str:
        """A name for ``value`` in the generated code."""
        name = f"_v{len(self.env)}"
        self.env[name] = value
        return name

    def object(
        self, type_: GraphQLObjectType, nodes: Sequence[FieldNode], table: dict[str, Callable[..., Part]]
    ) -> Get:
        """A function of a source (row, record...) to the object's answer: ``table`` gives, by field
        name, a maker of each field's part (called with the field's type and nodes): an expression
        over the source (``Expr``) or a function of it. The function is generated code (one dict
        display): field-by-field calls are what the plan saves."""
        items: list[str] = []
        for key, name, field_nodes in self.fields(type_, nodes):
            if name == "__typename":
                items.append(f"{key!r}: {type_.name!r}")
                continue
            make = table.get(name)
            if make is None:
                raise Unsupported(f"{type_.name}.{name}")
            part = make(get_named_type(type_.fields[name].type), field_nodes)
            code = part.code if isinstance(part, Expr) else f"{self.bind(part)}(@)"
            items.append(f"{key!r}: {code.replace('@', 'source')}")
        name = f"_shape{len(self.env)}"
        exec(f"def {name}(source):\n    return {{{', '.join(items)}}}\n", self.env)
        shape: Get = self.env[name]
        return shape

    # --- the types of the page ---------------------------------------------------------------------

    def connection(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode]) -> Get:
        return self.object(
            type_,
            nodes,
            {
                "edges": lambda t, n: self._program_edges(t, n),
                "pageInfo": lambda t, n: self._page_info(t, n),
                "totalCount": lambda t, n: Expr("(@.page.total or 0)"),
                "facets": lambda t, n: self._facets(t, n, "direction", DIRECTIONS, "facets"),
                "kindFacets": lambda t, n: self._facets(t, n, "fundingKind", FUNDING_KINDS, "kind_facets"),
            },
        )

    def _program_edges(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode]) -> Get:
        edge = self.object(
            type_,
            nodes,
            {"cursor": lambda t, n: Expr("@[1]"), "node": lambda t, n: Expr(f"{self.bind(self.program(t, n))}(@[0])")},
        )

        def edges(p: Page) -> list[dict[str, Any]]:
            tag = p.page.tag
            return [edge((row, encode_cursor(search_domain.cursor_values(tag, row)))) for row in p.rows]

        return edges

    def _page_info(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode]) -> Get:
        info = self.object(type_, nodes, _PAGE_INFO)

        def page_info(p: Page) -> dict[str, Any]:
            tag, rows = p.page.tag, p.rows
            start = encode_cursor(search_domain.cursor_values(tag, rows[0])) if rows else None
            end = encode_cursor(search_domain.cursor_values(tag, rows[-1])) if rows else None
            shaped: dict[str, Any] = info((len(p.page.rows) > p.first, p.after is not None, start, end))
            return shaped

        return page_info

    def _facets(
        self, type_: GraphQLObjectType, nodes: Sequence[FieldNode], name: str, values: Sequence[str], attr: str
    ) -> Get:
        facet = self.object(type_, nodes, {name: lambda t, n: Expr("@[0]"), "count": lambda t, n: Expr("@[1]")})

        def facets(p: Page) -> list[dict[str, Any]]:
            counts: dict[str, int] = getattr(p.page, attr)
            return [facet((v, counts.get(v, 0))) for v in values]

        return facets

    def program(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode]) -> Get:
        table: dict[str, Callable[..., Part]] = {
            name: _expr(f"@[{column!r}]") for name, column in _PROGRAM_COLUMNS.items()
        }
        table.update(
            id=lambda t, n: Expr(f'{self.bind(encode_id)}("Program", @["id"])'),
            rating=lambda t, n: Expr('(round(@["rating_sum"] / @["rating_count"], 2) if @["rating_count"] else None)'),
            normativeCost=lambda t, n: Expr(
                f'(None if @["normative_cost"] is None else {self.bind(self.money(t, n))}(@["normative_cost"]))'
            ),
            provider=lambda t, n: self._provider(t, n),
            groups=lambda t, n: self._groups(t, n),
        )
        return self.object(type_, nodes, table)

    def _provider(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode]) -> Expr:
        self.provider = True
        table: dict[str, Callable[..., Part]] = {name: _expr(f"@[{_PROVIDER[name]}]") for name in _PROVIDER_FIELDS}
        table["id"] = lambda t, n: Expr(f'{self.bind(encode_id)}("Provider", @[{_PROVIDER["id"]}])')
        return Expr(f'{self.bind(self.object(type_, nodes, table))}(@["provider_along"])')

    def _groups(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode]) -> Expr:
        self.groups = True
        first = self.argument(nodes[0], "first")
        if self.argument(nodes[0], "after") is not None:
            raise Unsupported("a groups page after a cursor")
        if not isinstance(first, int) or not 1 <= first <= MAX_PAGE:
            raise Unsupported("first out of range: the ordinary path says so")
        connection = self.object(
            type_,
            nodes,
            {
                "edges": lambda t, n: self._group_edges(t, n, first),
                "pageInfo": lambda t, n: self._group_page_info(t, n, first),
                "totalCount": lambda t, n: Expr("len(@)"),
            },
        )
        return Expr(f'{self.bind(connection)}({self.bind(groups_of)}(@["groups_along"]))')

    def _group_edges(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode], first: int) -> Expr:
        edge = self.object(
            type_,
            nodes,
            {
                "cursor": lambda t, n: Expr(f"{self.bind(_group_cursor)}(@)"),
                "node": lambda t, n: Expr(f"{self.bind(self.group(t, n))}(@)"),
            },
        )
        return Expr(f"[{self.bind(edge)}(g) for g in @[:{first}]]")

    def _group_page_info(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode], first: int) -> Get:
        info = self.object(type_, nodes, _PAGE_INFO)

        def page_info(groups: Sequence[Any]) -> dict[str, Any]:
            page = groups[:first]
            start = _group_cursor(page[0]) if page else None
            end = _group_cursor(page[-1]) if page else None
            shaped: dict[str, Any] = info((len(groups) > first, False, start, end))
            return shaped

        return page_info

    def group(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode]) -> Get:
        table: dict[str, Callable[..., Part]] = {name: _expr(f"@[{_GROUP[column]}]") for name, column in _GROUP_FIELDS}
        table.update(
            id=lambda t, n: Expr(f'{self.bind(encode_id)}("Group", @[{_GROUP["id"]}])'),
            seatsLeft=lambda t, n: Expr(f"int(@[{_GROUP['capacity']}] - @[{_GROUP['seats_taken']}])"),
            enrollmentOpen=lambda t, n: Expr(f"bool(@[{_GROUP['enrollment_open']}] and not @[{_GROUP['archived']}])"),
            price=lambda t, n: Expr(f"{self.bind(self.money(t, n))}(@[{_GROUP['price']}])"),
        )
        return self.object(type_, nodes, table)

    def money(self, type_: GraphQLObjectType, nodes: Sequence[FieldNode]) -> Get:
        shape = self.object(
            type_,
            nodes,
            {
                "amount": lambda t, n: Expr("@.amount"),
                "kopecks": lambda t, n: Expr("int(@.kopecks)"),
                "currency": lambda t, n: Expr("@.currency"),
            },
        )
        return lambda kopecks: shape(money(kopecks))


# --- parts ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expr:
    """A field's value as a Python expression over its source, written ``@`` (our own code: column
    names, indexes and bound names only; response keys go in as literals)."""

    code: str


Part = Expr | Get


def _expr(code: str) -> Callable[..., Part]:
    return lambda t, n: Expr(code)


_PROGRAM_COLUMNS = {
    "title": "title",
    "description": "description",
    "direction": "direction",  # the enums' names are their values
    "minAge": "min_age",
    "maxAge": "max_age",
    "hours": "hours",
    "form": "form",
    "certified": "certified",
    "fundingKind": "funding_kind",
    "forDisabilities": "for_disabilities",
    "archived": "archived",
    "municipality": "municipality",
    "address": "address",
    "latitude": "latitude",
    "longitude": "longitude",
    "externalId": "external_id",
    "reviewCount": "rating_count",
}
_PROVIDER = {c: i for i, c in enumerate(row_columns(ProviderRow))}
_PROVIDER_FIELDS = ["name", "inn", "municipality", "address"]
_GROUP = GROUP_INDEX  # dates as ISO strings (JSON)
_GROUP_FIELDS = [
    ("name", "name"),
    ("schedule", "schedule"),
    ("capacity", "capacity"),
    ("archived", "archived"),
    ("externalId", "external_id"),
    ("startsOn", "starts_on"),
    ("endsOn", "ends_on"),
]
_PAGE_INFO: dict[str, Callable[..., Part]] = {
    "hasNextPage": _expr("@[0]"),
    "hasPreviousPage": _expr("@[1]"),
    "startCursor": _expr("@[2]"),
    "endCursor": _expr("@[3]"),
}
_G_ID, _G_STARTS = _GROUP["id"], _GROUP["starts_on"]


def _group_cursor(g: Sequence[Any]) -> str:
    return encode_cursor([g[_G_STARTS], g[_G_ID]])


# --- plans by document ---------------------------------------------------------------------------

_MAX_PLANS = 512
_plans: dict[tuple[int, ...], tuple[Sequence[FieldNode], list[str], dict[tuple[Any, ...], Plan | None]]] = {}


def plan_of(
    schema: GraphQLSchema,
    type_: GraphQLObjectType,
    nodes: Sequence[FieldNode],
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> Plan | None:
    """The plan of a selection of ``programs`` (None: resolve it the ordinary way), compiled once per
    document (the gate keeps documents, so their nodes are the same objects) and per values of the
    variables its plan reads (a groups page's ``first``)."""
    key = tuple(map(id, nodes))
    entry = _plans.get(key)
    if entry is not None:
        _, read, by_values = entry
        try:
            values = tuple(variables.get(name) for name in read)
            if values in by_values:
                return by_values[values]
        except TypeError:  # an unhashable value: compile afresh
            values = None
    compiler = _Compiler(schema, fragments, variables)
    plan: Plan | None
    try:
        shape = compiler.connection(type_, nodes)
        plan = Plan(Along(provider=compiler.provider, groups=compiler.groups), shape)
    except Unsupported:
        plan = None
    read = sorted(set(compiler.read))
    try:
        values = tuple(variables.get(name) for name in read)
        hash(values)
    except TypeError:
        return plan
    if len(_plans) >= _MAX_PLANS:
        _plans.clear()
    kept = _plans.get(key)
    if kept is None or kept[1] != read:
        kept = _plans[key] = (nodes, read, {})
    kept[2][values] = plan
    return plan
