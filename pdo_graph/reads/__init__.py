"""Read SQL of the GraphQL layer, one module per area, and the loaders of the request context.

A module here holds its area's row types (``Protocol`` classes naming the columns a statement
returns), its SQL, its loader keys (``CHILD: Key[int, ChildRow | None]``) and the reads of root
fields (``provider_enrollments(scope, ...)``). It imports ``db`` and ``domain`` (a shared rule such
as the current period's order), never ``schema`` or ``resolvers``.
"""
