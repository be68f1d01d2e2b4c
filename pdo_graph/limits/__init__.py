"""Everything that runs before execution, in bounded time: the gate every GraphQL document passes.

In order, each step linear in the document (or bounded by the steps before it), nothing before
execution touches the database:

1. **size**: at most ``max_query_chars`` characters (the body limit is for variables);
2. **tokens**: one pass of a regular expression that cannot backtrack (possessive quantifiers; an
   unterminated string runs to the end of its line instead of failing and being retried from every
   quote inside it), stopping after ``max_tokens`` tokens; brackets may nest ``MAX_NESTING`` deep;
3. **parse** (cached per document text, capped at ``max_tokens`` tokens);
4. **shape**: unknown fragments and fragment cycles, the depth (``max_depth``) and aliases counted
   as often as they are spread (``max_aliases``), each fragment summarized once; then the fields
   GraphQL's overlapping-fields validation would compare (quadratic in repeats of one response
   name, multiplied down nested repeats) are counted first and bounded (``MAX_SAME_FIELD``,
   ``MAX_OVERLAP_PAIRS``), the walk itself within ``SHAPE_BUDGET`` steps;
5. **the operation that will run**: several operations and no ``operationName``, an
   ``operationName`` the document lacks, or no operation at all is refused (HTTP 400);
6. **validation** (graphql-core's rules, cached per document text);
7. **cost** of exactly that operation, each fragment costed once:
   cost(field) = 1 + multiplier × Σ cost(children), where the multiplier is the field's ``first``
   argument (connections), the documented bound of a list field (``LIST_WEIGHTS``: lists whose
   length grows with data, e.g. the monthly split of a contract), or 1 (introspection lists too).

Refusals of steps 1, 2, 4 (limits), 5 and 7 are :class:`Refused` (HTTP 400, a code); syntax and
validation errors are :class:`Invalid` (reported like any GraphQL request error).
"""

from pdo_graph.limits.cost import (
    DEFAULT_LIST_WEIGHT,
    LIST_WEIGHTS,
    SMALL_LISTS,
    list_weight,
    query_cost,
    select_operation,
)
from pdo_graph.limits.gate import CACHE_SIZE, Gate, Limits
from pdo_graph.limits.outcomes import Invalid, Prepared, Refused, render
from pdo_graph.limits.scan import MAX_NESTING, Scan, count_tokens, scan
from pdo_graph.limits.shape import MAX_OVERLAP_PAIRS, MAX_SAME_FIELD, SHAPE_BUDGET

__all__ = [
    "CACHE_SIZE",
    "DEFAULT_LIST_WEIGHT",
    "LIST_WEIGHTS",
    "MAX_NESTING",
    "MAX_OVERLAP_PAIRS",
    "MAX_SAME_FIELD",
    "SHAPE_BUDGET",
    "SMALL_LISTS",
    "Gate",
    "Invalid",
    "Limits",
    "Prepared",
    "Refused",
    "Scan",
    "count_tokens",
    "list_weight",
    "query_cost",
    "render",
    "scan",
    "select_operation",
]
