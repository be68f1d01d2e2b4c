"""Text hygiene at argument coercion: one check of every string argument, before any resolver runs.

graphql-core coerces the arguments of a field (literals and variables alike) and hands them to the
field's resolver. :func:`install` wraps the resolver of every field that takes text (``String`` or
``ID``, directly or inside input objects and lists) with one check, the rule of
:mod:`pdo_graph.domain.text`. A refused string never reaches a resolver, a service or the database:

- on a mutation, the payload comes back with ``userErrors`` (code ``INVALID``, the path of the
  string, e.g. ``["input", "fullName"]``) and nothing else;
- on any other field, the field fails with a GraphQL error whose ``extensions`` carry
  ``code: INVALID`` and ``field`` (the path).

The scalars keep their names (``String``, ``ID``): graphql-core does not let a schema redefine them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    default_field_resolver,
)
from strawberry.types.base import StrawberryList, StrawberryOptional

from pdo_graph.domain.errors import Problem
from pdo_graph.domain.text import text_problem
from pdo_graph.schema.base import Money, UserError, money, user_errors

MAX_PROBLEMS = 20
_TEXT = frozenset({"String", "ID"})


def _unwrap(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _carries_text(type_: GraphQLInputType, seen: set[str] | None = None) -> bool:
    t = _unwrap(type_)
    if isinstance(t, GraphQLList):
        return _carries_text(t.of_type, seen)
    if isinstance(t, GraphQLScalarType):
        return t.name in _TEXT
    if isinstance(t, GraphQLInputObjectType):
        seen = seen if seen is not None else set()
        if t.name in seen:
            return False
        seen.add(t.name)
        return any(_carries_text(f.type, seen) for f in t.fields.values())
    return False


def _collect(value: Any, type_: GraphQLInputType, path: list[str], out: list[Problem]) -> None:
    if value is None or len(out) >= MAX_PROBLEMS:
        return
    t = _unwrap(type_)
    if isinstance(t, GraphQLList):
        for index, item in enumerate(value if isinstance(value, list | tuple) else [value]):
            _collect(item, t.of_type, [*path, str(index)], out)
    elif isinstance(t, GraphQLInputObjectType):
        if isinstance(value, dict):
            for name, input_field in t.fields.items():
                if name in value:
                    _collect(value[name], input_field.type, [*path, name], out)
    elif isinstance(t, GraphQLScalarType) and t.name in _TEXT and isinstance(value, str):
        problem = text_problem(value, path, identifier=t.name == "ID")
        if problem is not None:
            out.append(problem)


def argument_problems(field: GraphQLField, arguments: dict[str, Any]) -> list[Problem]:
    """Every string of ``arguments`` (coerced, by GraphQL name) that the text rule refuses."""
    out: list[Problem] = []
    for name, value in arguments.items():
        argument = field.args.get(name)
        if argument is not None:
            _collect(value, argument.type, [name], out)
    return out


def refusal_builder(payload_type: Any) -> Callable[[list[UserError]], Any]:
    """How to make a mutation's payload that carries only ``userErrors`` (checked when installed)."""
    definition = _unwrap(payload_type).extensions.get("strawberry-definition")
    if definition is None:
        raise TypeError(f"{payload_type} is not a Strawberry type")
    empty: dict[str, Any] = {}
    for f in definition.fields:
        if f.python_name == "user_errors":
            continue
        if isinstance(f.type, StrawberryOptional):
            empty[f.python_name] = None
        elif isinstance(f.type, StrawberryList):
            empty[f.python_name] = []
        elif f.type is Money:
            empty[f.python_name] = money(0)
        elif f.type is int:
            empty[f.python_name] = 0
        elif f.type is bool:
            empty[f.python_name] = False
        else:
            raise TypeError(f"{definition.name}.{f.python_name}: no empty value for a refusal")
    if "user_errors" not in {f.python_name for f in definition.fields}:
        raise TypeError(f"{definition.name} has no userErrors")
    origin = definition.origin

    def build(errors: list[UserError]) -> Any:
        return origin(**empty, user_errors=errors)

    return build


def _guard(
    field: GraphQLField, resolve: Callable[..., Any], refusal: Callable[[list[UserError]], Any] | None
) -> Callable[..., Any]:
    def guarded(source: Any, info: Any, **arguments: Any) -> Any:
        problems = argument_problems(field, arguments)
        if not problems:
            return resolve(source, info, **arguments)
        lang = getattr(info.context, "lang", "ru")
        if refusal is not None:
            return refusal(user_errors(problems, lang))
        first = problems[0]
        raise GraphQLError(first.message(lang), extensions={"code": first.code.value, "field": first.field})

    guarded.__pdo_text_hygiene__ = True  # type: ignore[attr-defined]
    return guarded


def install(schema: GraphQLSchema) -> list[str]:
    """Wrap every field that takes text; returns their coordinates (``Type.field``)."""
    guarded: list[str] = []
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            if not any(_carries_text(arg.type) for arg in field.args.values()):
                continue
            if getattr(field.resolve, "__pdo_text_hygiene__", False):
                continue
            refusal = refusal_builder(field.type) if type_ is schema.mutation_type else None
            field.resolve = _guard(field, field.resolve or default_field_resolver, refusal)
            guarded.append(f"{type_.name}.{name}")
    return guarded


__all__: Sequence[str] = ["argument_problems", "install", "refusal_builder"]
