"""The RPDE page rules (pdo_graph/integrations/sync/rpde.py) and a page made ready for its
transaction (sync/pages.py): pure functions, no server, no database."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pdo_graph.domain.catalog import Checked, ItemResult, Outcome
from pdo_graph.domain.errors import ErrorCode, Problem
from pdo_graph.integrations.feeds import MappingContext
from pdo_graph.integrations.sync import rpde
from pdo_graph.integrations.sync.messages import in_feed_item
from pdo_graph.integrations.sync.pages import prepare_page
from pdo_graph.integrations.sync.rpde import BadEnvelope, FeedItem, PageError, parse_page
from tests.integrations.conftest import pdo_group, pdo_program


def test_rpde_envelopes():
    page = parse_page(
        {
            "next": "https://a.org/feed?after=3",
            "items": [
                {"id": 17, "state": "updated", "kind": "program", "modified": "42", "data": {}},
                {"id": "x", "state": "deleted", "kind": "program", "modified": 43},
                {"id": "y", "state": "updated", "kind": "program", "modified": 44},
                {"id": "", "state": "deleted", "kind": "program", "modified": 45},
                {"id": "z", "state": "deleted", "kind": "program", "modified": -1},
                {"id": "w", "state": "deleted", "kind": "program", "modified": True},
                "junk",
            ],
        },
        max_items=100,
    )
    first, second, *bad = page.items
    assert first == FeedItem("17", "program", "updated", 42, {}) and isinstance(second, FeedItem)
    assert [b.problem.key for b in bad if isinstance(b, BadEnvelope)] == [
        "sync_item_no_data",
        "sync_item_bad_id",
        "sync_item_bad_modified",
        "sync_item_bad_modified",
        "sync_item_not_object",
    ]
    for body, key in (
        ([], "sync_page_not_object"),
        ({"next": "x"}, "sync_page_no_items"),
        ({"items": []}, "sync_page_no_next"),
        ({"items": [{}] * 3, "next": "x"}, "sync_page_too_many_items"),
    ):
        with pytest.raises(PageError) as caught:
            parse_page(body, max_items=2)
        assert caught.value.key == key


def test_next_is_resolved_against_the_page():
    assert parse_page({"items": [], "next": "?after=9"}, 10, "https://a.org/feed?after=3").next_url == (
        "https://a.org/feed?after=9"
    )
    assert (
        parse_page({"items": [], "next": " https://b.org/x "}, 10, "https://a.org/feed").next_url == "https://b.org/x"
    )


def item(item_id: str, modified: int | None, kind: str = "program") -> FeedItem | BadEnvelope:
    if modified is None:
        return BadEnvelope(item_id, kind, None, Problem(ErrorCode.INVALID, "sync_item_bad_modified"))
    return FeedItem(item_id, kind, "deleted", modified, None)


def test_the_last_page_the_page_after_and_loops():
    seen: set[str] = set()
    assert rpde.step("u1", [item("a", 1)], "u2", seen) == "next"
    assert rpde.step("u2", [], "u3", seen) == "next" and seen == {"u2"}
    assert rpde.step("u3", [], "u3", seen) == "end"  # no items and next is itself
    with pytest.raises(PageError) as caught:
        rpde.step("u2", [], "u3", seen)  # empty pages in a circle
    assert caught.value.key == "sync_page_loop"
    assert rpde.step("u4", [item("b", 2)], "u4", seen) == "stop" and seen == set()  # items, next is itself


def test_order_goes_forward_by_modified_then_id():
    position = rpde.check_order([item("a", 1), item("b", 1), item("c", 2), item("bad", None)], (None, set()))
    assert position == (2, {"c"})
    assert rpde.check_order([item("d", 2)], position) == (2, {"c", "d"})  # the same modified, another id
    for later in ([item("c", 2)], [item("x", 1)]):  # repeated, or going back (the `>=` bug)
        with pytest.raises(PageError) as caught:
            rpde.check_order(later, position)
        assert caught.value.key == "sync_feed_ordering"


@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from("abc")), max_size=12))
def test_order_accepts_exactly_the_feeds_going_forward(entries):
    """``modified`` never goes back and no (modified, id) comes twice (ids at one ``modified`` in any order)."""
    items = [item(i, m) for m, i in entries]
    forward = all(a[0] <= b[0] for a, b in itertools.pairwise(entries)) and len(set(entries)) == len(entries)
    try:
        rpde.check_order(items, (None, set()))
    except PageError:
        assert not forward
    else:
        assert forward


def test_the_position_id_is_the_last_item_at_the_position():
    items = [item("a", 1), item("b", 2), item("c", 2), item("bad", None)]
    assert rpde.position_id(items, 2, None) == "c"
    assert rpde.position_id([], 2, "before") == "before"  # an empty page keeps the position
    assert rpde.position_id(items, None, "before") is None


def test_newest_entry_of_each_id_of_known_kinds():
    fresh, superseded, refused = rpde.newest(
        [item("a", 1), item("b", 2), item("a", 3), item("x", 4, kind="Event"), item("bad", None)],
        frozenset({"program"}),
    )
    assert [(i.id, i.modified) for i in fresh] == [("a", 3), ("b", 2)] and superseded == 1
    assert [(i, key) for i, _, [p] in refused for key in [p.key]] == [
        ("x", "sync_item_unknown_kind"),
        ("bad", "sync_item_bad_modified"),
    ]


def test_a_page_made_ready_maps_and_checks_its_items():
    body = {
        "next": "https://a.org/feed?after=9",
        "items": [
            {"id": "P-1", "state": "updated", "kind": "program", "modified": 1, "data": pdo_program("P-1", 1)["data"]},
            {"id": "P-2", "state": "updated", "kind": "program", "modified": 2, "data": {"title": 5}},
            {
                "id": "P-3",
                "state": "updated",
                "kind": "program",
                "modified": 3,
                "data": pdo_program("P-3", 3, groups=[pdo_group("G-1", capacity=0)])["data"],
            },
            {"id": "P-4", "state": "deleted", "kind": "program", "modified": 4},
        ],
    }
    page = prepare_page(body, "https://a.org/feed", "PDO_CATALOG_V1", MappingContext("7707083893", "01"), 100)
    assert isinstance(page.checked["P-1"], Checked) and set(page.refused) == {"P-2"}
    rejected = page.checked["P-3"]
    assert isinstance(rejected, ItemResult) and rejected.outcome is Outcome.REJECTED
    fields = [p.field for p in in_feed_item(rejected.problems, "PDO_CATALOG_V1", page.mapped["P-3"].groups)]
    assert fields == [["data", "groups", "G-1", "capacity"]]
    assert in_feed_item(rejected.problems, "OPENACTIVE_RPDE", page.mapped["P-3"].groups)[0].field == [
        "data",
        "capacity",
    ]
    assert [i.id for i in page.fresh] == ["P-1", "P-2", "P-3", "P-4"] and "P-4" not in page.mapped
