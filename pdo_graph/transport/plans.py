"""Compiled plans: a query the gate has passed, run without graphql-core's per-field machinery.

graphql-core spends a few microseconds on every field it resolves (a ``GraphQLResolveInfo``, the
awaitable checks, the completion by type, Strawberry's wrappers) and tens on every ``async``
resolver (a task each); the family dashboard has ~330 fields. A :class:`Plan` is made once per
document and operation (:class:`Plans`, cached by the text like the gate's parse and validation):
for each selection, the fields to answer in order (fragments and repeated selections merged as
GraphQL merges them), each with how its value is got and completed. Running it:

- a plain attribute (a Strawberry field without a resolver) is read with Strawberry's own getter,
  without an info; a field with a resolver is called exactly as graphql-core calls it (Strawberry's
  resolver, with a ``GraphQLResolveInfo``, its arguments coerced by graphql-core), so every rule in
  the object types applies as it does on the general path (who may see a row, the audit of personal
  data, ``reads_ahead``);
- an ``async`` resolver is started at once and finishes at once when its rows are in its loader
  already (read along); otherwise it waits with the others of its level, so one level's loads still
  go in one batch;
- leaves are serialised by their GraphQL type (the built-in scalars' common cases inline).

Anything the plan does not foresee gives the general path the request (:class:`Fallback`, the
caller runs ``schema.execute`` with a fresh context): mutations and subscriptions, directives
(``@skip``/``@include``), introspection, any error or a null where none may be, an audit that
cannot be written. So errors keep the one contract of the general path, and a plan answers only
what the general path would answer without errors; ``tests/family/test_dashboard_reads.py``
compares both on generated queries.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Generator, Sequence
from types import CoroutineType
from typing import Any, TypeGuard

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLAbstractType,
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    is_abstract_type,
    is_leaf_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Path, Undefined
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry import Info as StrawberryInfo
from strawberry.schema import Schema as StrawberrySchema
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from pdo_graph.schema.completed import Completed
from pdo_graph.schema.hygiene import argument_problems
from pdo_graph.schema.selection import collect_fields

CACHE_SIZE = 256
RETIRE_AFTER = 16  # fallbacks before a plan that nearly always falls back is given up
STRAWBERRY = "strawberry-definition"  # where Strawberry keeps its definitions in graphql-core's types
_MAX_INT, _MIN_INT = 2**31 - 1, -(2**31)
_PLAIN = frozenset({str, int, float, bool, type(None), list, tuple, dict})


class Fallback(Exception):
    """The general path answers this request."""


class NotCompilable(Exception):
    """The document holds something a plan does not do (it never will for this document)."""


Complete = Callable[[Any, "Run", Path], Any]


class _Resume:
    """The rest of a coroutine that was started at once and is waiting on ``first`` (a future): awaiting
    this hands its waits to the awaiting task, as ``await coroutine`` would have done."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: CoroutineType[Any, Any, Any], first: Any) -> None:
        self.coro, self.first = coro, first

    def __await__(self) -> Generator[Any, Any, Any]:
        waiting = self.first
        while True:
            try:
                sent = yield waiting
            except BaseException as exc:  # the task was cancelled or the future failed: the coroutine sees it
                try:
                    waiting = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting = self.coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class Run:
    """One execution of a plan: the request's context and variables, and the work left waiting."""

    __slots__ = ("context", "operation", "pending", "plan", "variables")

    def __init__(self, plan: Plan, context: Any, variables: VariableValues) -> None:
        self.plan, self.context, self.variables = plan, context, variables
        self.operation = plan.operation
        self.pending: list[Awaitable[None]] = []

    def info(self, field: FieldPlan, path: Path) -> GraphQLResolveInfo[Any]:
        plan = self.plan
        return GraphQLResolveInfo(
            field.name,
            field.nodes,
            field.definition.type,
            field.parent,
            path,
            plan.schema,
            plan.fragments,
            None,
            plan.operation,
            self.variables,
            self.context,
            _is_awaitable,
            None,
            _HELPERS,
        )

    def settle(self, value: Any, complete: Complete, path: Path, into: Any, slot: Any) -> None:
        """``into[slot]`` = the completed ``value``; later (with the level's other waits) if it must wait."""
        cls = value.__class__
        if cls in _PLAIN:
            into[slot] = complete(value, self, path)
            return
        if cls is CoroutineType:
            try:
                waiting = value.send(None)
            except StopIteration as stop:
                into[slot] = complete(stop.value, self, path)
                return
            self.pending.append(self._later(_Resume(value, waiting), complete, path, into, slot))
            return
        if isinstance(value, asyncio.Future):
            if value.done():
                into[slot] = complete(value.result(), self, path)
            else:
                self.pending.append(self._later(value, complete, path, into, slot))
            return
        if hasattr(value, "__await__"):
            self.pending.append(self._later(value, complete, path, into, slot))
            return
        into[slot] = complete(value, self, path)

    async def _later(self, value: Awaitable[Any], complete: Complete, path: Path, into: Any, slot: Any) -> None:
        into[slot] = complete(await value, self, path)

    async def drain(self) -> None:
        """Level by level, everything that waits (one level's loads go out together)."""
        while self.pending:
            tasks = [asyncio.ensure_future(w) for w in self.pending]
            self.pending = []
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.abandon()
                raise

    def abandon(self) -> None:
        """Close what was left waiting (the general path answers instead)."""
        for waiting in self.pending:
            if waiting.__class__ is CoroutineType:
                waiting.close()
        self.pending = []


def _is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    return value.__class__ is CoroutineType or isinstance(value, asyncio.Future) or hasattr(value, "__await__")


async def _gather(values: Sequence[Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*values))


def _track(values: Sequence[Any]) -> None:
    raise Fallback("a resolver tracks work of its own")


_HELPERS = GraphQLResolveInfoHelpers(gather=_gather, track=_track)


class FieldPlan:
    """One response key of a selection: its field, how its value is got and completed.

    Strawberry's wrappers are skipped where what they do is known at compile time: a plain attribute
    is read with ``getattr`` (Strawberry's default resolver); a resolver without field extensions
    whose arguments are literals of leaf types that the text rule accepts gets them converted once, its ``self``/``root``/
    ``info`` as Strawberry injects them, and is called directly. Other fields go through Strawberry's
    resolver as graphql-core calls it."""

    __slots__ = (
        "args",
        "attribute",
        "basic",
        "complete",
        "definition",
        "direct",
        "key",
        "leaf",
        "name",
        "nodes",
        "parent",
        "resolve",
        "strawberry",
        "typename",
    )

    def __init__(self, key: str, nodes: list[FieldNode], parent: GraphQLObjectType, plans: _Compiler) -> None:
        self.key, self.nodes, self.parent = key, nodes, parent
        self.name = nodes[0].name.value
        self.typename = self.name == "__typename"
        self.attribute: str | None = None
        self.direct: tuple[Callable[..., Any], bool, tuple[str, ...], str | None, dict[str, Any]] | None = None
        self.leaf = False
        if self.typename:
            return
        if self.name.startswith("__"):
            raise NotCompilable("introspection")
        definition = parent.fields[self.name]
        self.definition: GraphQLField = definition
        resolve = definition.resolve
        self.resolve = resolve
        self.basic = resolve is not None and getattr(resolve, "_is_default", False)
        # arguments without variables are coerced once
        self.args: dict[str, Any] | None = None
        if not plans.variables:
            self.args = (
                get_argument_values(definition, nodes[0], None) if (definition.args or nodes[0].arguments) else {}
            )
        field = definition.extensions.get(STRAWBERRY)
        self.strawberry = field if isinstance(field, StrawberryField) else None
        if self.strawberry is not None and not self.strawberry.extensions:
            self._shortcut(self.strawberry, plans)
        self.leaf = is_leaf_type(_unwrapped(definition.type))
        self.complete: Complete = plans.completer(definition.type, nodes, self)

    def _shortcut(self, field: StrawberryField, plans: _Compiler) -> None:
        resolver = field.base_resolver
        if resolver is None:
            if self.basic and field.default_resolver is getattr:
                self.attribute = field.python_name
            return
        owner = plans.strawberry
        if self.args is None or owner is None or not all(_leaf_argument(a.type) for a in self.definition.args.values()):
            return
        if argument_problems(self.definition, self.args):
            return  # a literal the text rule refuses: the guarded resolver (schema/hygiene.py) says so
        converter = owner.schema_converter
        kwargs = convert_arguments(self.args, field.arguments, converter.scalar_registry, owner.config)
        sources = tuple(p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p is not None)
        function = resolver.wrapped_func
        if not callable(function):  # a static or class method not bound to its type: Strawberry's call says so
            return
        info = resolver.info_parameter
        self.direct = (
            function,
            resolver.self_parameter is not None,
            sources,
            None if info is None else info.name,
            kwargs,
        )

    def value(self, source: Any, run: Run, path: Path) -> Any:
        if self.attribute is not None:
            return getattr(source, self.attribute)
        if self.basic:
            return self.resolve(source, None)
        if self.direct is not None:
            function, with_self, sources, info, fixed = self.direct
            kwargs = dict(fixed)
            for name in sources:
                kwargs[name] = source
            if info is not None:
                kwargs[info] = StrawberryInfo(_raw_info=run.info(self, path), _field=self.strawberry)  # type: ignore[arg-type]
            return function(source, **kwargs) if with_self else function(**kwargs)
        args = (
            self.args if self.args is not None else get_argument_values(self.definition, self.nodes[0], run.variables)
        )
        info_ = run.info(self, path)
        if self.resolve is None:
            value = source.get(self.name) if isinstance(source, dict) else getattr(source, self.name, None)
            return value() if callable(value) else value
        return self.resolve(source, info_, **args)


def _unwrapped(type_: Any) -> Any:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def _leaf_argument(type_: Any) -> bool:
    """An argument whose value is a scalar or an enum (not a list, not an input object)."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return is_leaf_type(type_)


class _Compiler:
    """Builds the completers of one document's operation (object plans of abstract types on first use)."""

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], variables: bool) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables
        owner = schema.extensions.get(STRAWBERRY)
        self.strawberry: StrawberrySchema | None = owner if isinstance(owner, StrawberrySchema) else None

    def collect(self, runtime: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]) -> list[FieldPlan]:
        """The fields of the merged ``selection_sets`` on the object type ``runtime``, in order."""
        fields = collect_fields(self.schema, self.fragments, runtime, selection_sets, NotCompilable)
        return [FieldPlan(key, group, runtime, self) for key, group in fields.items()]

    def completer(self, type_: GraphQLOutputType, nodes: list[FieldNode], field: FieldPlan) -> Complete:
        if isinstance(type_, GraphQLNonNull):
            inner = self.completer(type_.of_type, nodes, field)

            def non_null(value: Any, run: Run, path: Path) -> Any:
                if value is None:
                    raise Fallback("null where none may be")
                return inner(value, run, path)

            return non_null
        if isinstance(type_, GraphQLList):
            item = self.completer(type_.of_type, nodes, field)

            def each(value: Any, run: Run, path: Path) -> Any:
                if value is None:
                    return None
                if isinstance(value, (str, bytes, dict)):
                    raise Fallback("not a list")
                out: list[Any] = [None] * len(value) if isinstance(value, (list, tuple)) else []
                if not out and not isinstance(value, (list, tuple)):
                    value = list(value)
                    out = [None] * len(value)
                settle = run.settle
                for n, v in enumerate(value):
                    settle(v, item, path.add_key(n), out, n)
                return out

            return each
        if is_leaf_type(type_):
            return _leaf(type_)
        if isinstance(type_, GraphQLObjectType):
            return self._object(type_, nodes)
        if is_abstract_type(type_):
            return self._abstract(type_, nodes, field)
        raise NotCompilable(f"type {type_}")

    def _object(self, type_: GraphQLObjectType, nodes: list[FieldNode]) -> Complete:
        fields = self.collect(type_, [n.selection_set for n in nodes if n.selection_set is not None])
        is_type_of = type_.is_type_of
        name = type_.name
        keys = tuple(f.key for f in fields)

        def complete(value: Any, run: Run, path: Path) -> Any:
            if value is None:
                return None
            if value.__class__ is Completed:  # a subtree its resolver completed (schema/completed.py)
                return value.data
            if is_type_of is not None and not is_type_of(value, None):  # type: ignore[arg-type]
                raise Fallback("not of the field's type")
            out = dict.fromkeys(keys)  # in the selection's order, whichever value comes first
            settle = run.settle
            for f in fields:
                if f.typename:
                    out[f.key] = name
                    continue
                if f.leaf and f.attribute is not None:  # the most common: a plain attribute's scalar
                    v = getattr(value, f.attribute)
                    if v.__class__ in _PLAIN:
                        out[f.key] = f.complete(v, run, path)
                        continue
                at = path.add_key(f.key, name)
                settle(f.value(value, run, at), f.complete, at, out, f.key)
            return out

        return complete

    def _abstract(self, type_: GraphQLAbstractType, nodes: list[FieldNode], field: FieldPlan) -> Complete:
        by_type: dict[str, Complete] = {}
        schema = self.schema

        def complete(value: Any, run: Run, path: Path) -> Any:
            if value is None:
                return None
            resolve_type = type_.resolve_type
            if resolve_type is None:
                raise Fallback("no type resolver")
            name = resolve_type(value, run.info(field, path), type_)
            if not isinstance(name, str):
                raise Fallback("the type is not known at once")
            done = by_type.get(name)
            if done is None:
                runtime = schema.get_type(name)
                if not isinstance(runtime, GraphQLObjectType) or not schema.is_sub_type(type_, runtime):
                    raise Fallback("not a possible type")
                try:
                    done = by_type[name] = self._object(runtime, nodes)
                except NotCompilable as exc:
                    raise Fallback(str(exc)) from exc
            return done(value, run, path)

        return complete


def _leaf(type_: Any) -> Complete:
    serialize = type_.serialize

    def general(value: Any, run: Run, path: Path) -> Any:
        if value is None:
            return None
        out = serialize(value)
        if out is None or out is Undefined:
            raise Fallback("not serialisable")
        return out

    if type_ is GraphQLString or type_ is GraphQLID:

        def text(value: Any, run: Run, path: Path) -> Any:
            return value if value.__class__ is str else general(value, run, path)

        return text
    if type_ is GraphQLInt:

        def integer(value: Any, run: Run, path: Path) -> Any:
            if value.__class__ is int and _MIN_INT <= value <= _MAX_INT:
                return value
            return general(value, run, path)

        return integer
    if type_ is GraphQLBoolean:

        def boolean(value: Any, run: Run, path: Path) -> Any:
            return value if value.__class__ is bool else general(value, run, path)

        return boolean
    if type_ is GraphQLFloat:

        def number(value: Any, run: Run, path: Path) -> Any:
            return value if value.__class__ is float and math.isfinite(value) else general(value, run, path)

        return number
    return general


class Plan:
    """One query operation of one document, compiled."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> None:
        self.schema, self.operation = schema, operation
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        compiler = _Compiler(schema, self.fragments, bool(operation.variable_definitions))
        query = schema.query_type
        if operation.operation is not OperationType.QUERY or query is None or operation.directives:
            raise NotCompilable("not a query")
        self.root = compiler.collect(query, [operation.selection_set])
        self.query_name = query.name
        self.answered = self.fell_back = 0

    @property
    def retired(self) -> bool:
        """Whether the general path answers this document from now on: it falls back nearly always (a
        query that keeps erring would otherwise be executed twice every time)."""
        return self.fell_back >= RETIRE_AFTER and self.fell_back > 4 * self.answered

    async def run(self, context: Any, variables: dict[str, Any]) -> dict[str, Any]:
        """The operation's ``data``; :class:`Fallback` when the general path must answer."""
        coerced = get_variable_values(self.schema, self.operation.variable_definitions or (), variables)
        if not isinstance(coerced, VariableValues):
            raise Fallback("variables")
        run = Run(self, context, coerced)
        data: dict[str, Any] = dict.fromkeys(f.key for f in self.root)
        try:
            for f in self.root:
                if f.typename:
                    data[f.key] = self.query_name
                    continue
                path = Path(None, f.key, self.query_name)
                run.settle(f.value(None, run, path), f.complete, path, data, f.key)
            await run.drain()
        except Fallback:
            run.abandon()
            self.fell_back += 1
            raise
        except Exception as exc:  # a resolver's error: the general path says it as the contract says
            run.abandon()
            self.fell_back += 1
            raise Fallback(type(exc).__name__) from exc
        self.answered += 1
        return data


class Plans:
    """Compiled plans by document text and operation name (None: not compilable, remembered too)."""

    def __init__(self, schema: GraphQLSchema, size: int = CACHE_SIZE) -> None:
        self.schema, self.size = schema, size
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, query: str, operation_name: str | None, document: DocumentNode, operation: OperationDefinitionNode
    ) -> Plan | None:
        key = (query, operation_name)
        with self._lock:
            if key in self._plans:
                self._plans.move_to_end(key)
                known = self._plans[key]
                return None if known is None or known.retired else known
        try:
            plan: Plan | None = Plan(self.schema, document, operation)
        except NotCompilable:
            plan = None
        with self._lock:
            self._plans[key] = plan
            if len(self._plans) > self.size:
                self._plans.popitem(last=False)
        return plan
