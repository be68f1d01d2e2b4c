"""The catalog: providers, programs and groups.

- ``rules``: what a provider, a program and a group may be (cleaning and every rule needing no
  database, the capacity rule), with problems under the domain's field names;
- ``items``: a program with its groups as the write path takes it, the one ``Outcome`` of a write,
  the item's rules needing no database;
- ``write``: the one, set-based, way programs and groups are written (one row or a page);
- ``providers``: registering and changing organisations, who may act for one;
- ``programs``: a provider's programs and groups one at a time (create, update, archive, certify).

Functions take ids, never an actor, unless they decide who may act (``own_*``, ``register_*``,
``editable_provider``, ``certify_program``; the checks themselves are ``domain.access``'s).
"""

from pdo_graph.domain.catalog.items import Checked, ItemResult, Outcome, ProgramItem, check_item
from pdo_graph.domain.catalog.programs import (
    certify_program,
    create_group,
    create_program,
    own_group,
    own_program,
    set_group_archived,
    set_group_enrollment,
    set_program_archived,
    update_group,
    update_program,
)
from pdo_graph.domain.catalog.providers import (
    editable_provider,
    insert_provider,
    register_provider,
    update_provider,
)
from pdo_graph.domain.catalog.rules import (
    AGES,
    GROUP_FIELDS,
    PROGRAM_FIELDS,
    GroupData,
    ProgramData,
    ProviderData,
    group_from,
    normalize_group,
    normalize_program,
    normalize_provider,
    program_from,
)
from pdo_graph.domain.catalog.write import archive_programs, write_checked, write_items

__all__ = [
    "AGES",
    "GROUP_FIELDS",
    "PROGRAM_FIELDS",
    "Checked",
    "GroupData",
    "ItemResult",
    "Outcome",
    "ProgramData",
    "ProgramItem",
    "ProviderData",
    "archive_programs",
    "certify_program",
    "check_item",
    "create_group",
    "create_program",
    "editable_provider",
    "group_from",
    "insert_provider",
    "normalize_group",
    "normalize_program",
    "normalize_provider",
    "own_group",
    "own_program",
    "program_from",
    "register_provider",
    "set_group_archived",
    "set_group_enrollment",
    "set_program_archived",
    "update_group",
    "update_program",
    "update_provider",
    "write_checked",
    "write_items",
]
