"""What both transports (HTTP and WebSocket) share before and around execution: the caller from an
``Authorization`` value, a document through the gate (new documents off the event loop; a persisted
document registered once it passed), a request's context, and the database's unavailability told apart from other
faults. How errors look to the client is :mod:`.errors`."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from pdo_graph import clock
from pdo_graph.auth.principal import ANONYMOUS, AuthError, Principal
from pdo_graph.db.session import RequestDb
from pdo_graph.domain.access import Actor
from pdo_graph.graphql_schema import Schema
from pdo_graph.limits import Invalid, Prepared, Refused
from pdo_graph.schema.context import Context, Live
from pdo_graph.services import Services
from pdo_graph.transport import errors
from pdo_graph.transport.documents import Resolved

_DB_DOWN_CAUSES = {
    "ConnectionDoesNotExistError",
    "CannotConnectNowError",
    "AdminShutdownError",
    "ConnectionFailureError",
    "InterfaceError",
}


class WrongRegion(AuthError):
    """The token names another region than this deployment's (``PDO_REGION_CODE``): municipality codes
    are a region's own, so an operator of municipality 01 of one region is no one in another's."""

    def __init__(self, region: str, here: str) -> None:
        params = {"region": region, "here": here}
        super().__init__(errors.message("wrong_region", "ru", **params), errors.message("wrong_region", "en", **params))
        self.region = region
        self.here = here


async def authenticate(services: Services, header: object) -> Principal:
    """The principal of an ``Authorization`` value (``Bearer <token>``); anonymous without one.
    ``AuthError`` when it cannot be accepted (``IssuerUnavailable`` when the issuer cannot be asked;
    ``WrongRegion`` when it was issued for another region)."""
    if not header:
        return ANONYMOUS
    scheme, _, token = header.partition(" ") if isinstance(header, str) else ("", "", "")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(errors.message("auth_header", "ru"), errors.message("auth_header", "en"))
    assert services.verifier is not None
    principal = await services.verifier.verify(token.strip())
    here = services.settings.region_code
    if principal.region is not None and principal.region != here:
        raise WrongRegion(principal.region, here)
    return principal


async def prepare(
    schema: Schema, services: Services, document: Resolved, operation_name: str | None, variables: dict[str, Any]
) -> Prepared | Refused | Invalid:
    """The gate's answer for a document (:mod:`pdo_graph.limits`); a persisted query sent with its
    text (APQ) is registered once it passed, never before."""
    gate = schema.gate
    query = document.query
    if gate.knows(query):
        prepared = gate.prepare(query, operation_name, variables)
    else:
        # a new document is parsed and validated off the event loop: /healthz and others keep answering
        work = functools.partial(gate.prepare, query, operation_name, variables)
        prepared = await asyncio.get_running_loop().run_in_executor(services.gate_thread, work)
    if isinstance(prepared, Prepared) and document.register and document.key is not None:
        services.documents.register(document.key, query)
    return prepared


def context(
    services: Services,
    actor: Actor,
    db: RequestDb,
    lang: str,
    rid: str,
    live: Live | None = None,
) -> Context:
    """The context of one request (or one subscription, which follows ``live``)."""
    return Context(
        actor=actor,
        db=db,
        settings=services.settings,
        lang=lang,
        today=clock.today(services.settings.time_zone),
        request_id=rid,
        services={
            "metrics": services.metrics,
            # past any pooler: what holds a session lock (a catalog sync run)
            "direct": None if services.database is None else services.database.direct,
        },
        live=live,
    )


MIN_LSN_HEADER = "x-pdo-min-lsn"
"""After a mutation (with a replica) the primary's WAL position, which the client sends back on its
next requests: any server process then reads the replica for it only once the replica has replayed
that far. A value that is not a WAL position is ignored."""

LAG_TOLERANT_ROOTS = frozenset(
    {
        # the navigator
        "programs", "municipalities", "programReviews",
        # dashboards: a family's (viewer: children, certificates, enrollments, notifications), a
        # provider's (viewer.provider, its applications and contracts), objects by id for their pages
        "viewer", "providerEnrollments", "node", "nodes",
        # analytics
        "analytics", "analyticsSummary",
        # statements
        "settlementStatements", "providerSettlement", "municipalitySettlements",
        "__typename", "__schema", "__type",
    }
)  # fmt: skip
"""Root fields of queries that may read a replica (with read-your-writes). The others read the
primary: the operator's verification queue and certificate look-ups (work acted upon at once), the
audit log, quotes and plans (the figures a family confirms), catalog sources (a sync's progress)."""


def may_read_lagging(document: DocumentNode, operation: OperationDefinitionNode) -> bool:
    """Whether an operation's reads may come from a replica (one that has replayed the caller's own
    writes): a query whose every root field is lag-tolerant (:data:`LAG_TOLERANT_ROOTS`)."""
    if operation.operation is not OperationType.QUERY:
        return False
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return _roots_tolerant(operation.selection_set, fragments, set())


def _roots_tolerant(selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]) -> bool:
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value not in LAG_TOLERANT_ROOTS:
                return False
        elif isinstance(selection, InlineFragmentNode):
            if not _roots_tolerant(selection.selection_set, fragments, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None:
                return False
            if name not in seen:
                seen.add(name)
                if not _roots_tolerant(fragment.selection_set, fragments, seen):
                    return False
    return True


def caller_key(principal: Principal) -> str | None:
    """Whose writes a read must see (the token's role and subject); None for anonymous visitors."""
    if principal.role is None or not principal.subject:
        return None
    return f"{principal.role.value}:{principal.subject}"


def is_database_down(exc: BaseException | None) -> bool:
    """Connection-level failures (server restarted, connections killed, pool exhausted)."""
    if exc is None:
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (SATimeoutError, OSError, ConnectionError, InterfaceError, OperationalError)):
        return True
    cause = exc.__cause__ or getattr(exc, "orig", None)
    return cause is not None and type(cause).__name__ in _DB_DOWN_CAUSES
