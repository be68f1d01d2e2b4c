"""schema.graphql is committed; this fails when it drifts from the code (fix: `make schema`)."""

from pdo_graph.graphql_schema import SCHEMA_FILE, export_sdl


def test_schema_file_matches_code():
    assert SCHEMA_FILE.read_text() == export_sdl(), "schema.graphql is out of date: run `make schema`"


def test_every_type_field_argument_and_enum_value_is_described():
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

    from pdo_graph.graphql_schema import build_schema

    schema = build_schema()._schema
    missing = []
    for name, t in schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID", "Date", "DateTime"}:
            continue
        if not t.description:
            missing.append(name)
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, d in t.fields.items() if not d.description]
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType):
            missing += [
                f"{name}.{f}({a}:)" for f, d in t.fields.items() for a, arg in d.args.items() if not arg.description
            ]
        if isinstance(t, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in t.values.items() if not value.description]
    assert missing == []
