"""The navigator a family can use: distance from a point (radius, nearest first), program kind with its
facets, form of study, suitability for children with disabilities (ОВЗ)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from pdo_graph.domain.search import Near, bounding_box, distance_km
from tests.enrollment.conftest import add_group, add_program, add_provider

SEARCH = """
query($f: ProgramFilter, $o: ProgramOrder, $after: String) {
  programs(first: 2, after: $after, filter: $f, orderBy: $o) {
    totalCount edges { cursor node { title fundingKind forDisabilities form latitude longitude } }
    pageInfo { hasNextPage endCursor }
    facets { direction count } kindFacets { fundingKind count }
  }
}"""

CENTRE = (55.7558, 37.6173)  # Moscow, Red Square


def _north(km: float) -> tuple[float, float]:
    """A point ``km`` north of the centre."""
    return CENTRE[0] + km / (math.pi * 6371 / 180), CENTRE[1]


async def _program(db, provider, title, *, at=None, kind="CERTIFICATE", form="очная", ovz=False):
    program = await add_program(db, provider, title=title, certified=kind == "CERTIFICATE")
    async with db.begin() as conn:
        await conn.execute(
            text(
                "UPDATE programs SET funding_kind = :k, form = :f, for_disabilities = :o, latitude = :lat,"
                " longitude = :lon WHERE id = :p"
            ),
            {"k": kind, "f": form, "o": ovz, "lat": at and at[0], "lon": at and at[1], "p": program},
        )
    starts = date.today() + timedelta(days=30)
    await add_group(
        db, program, starts_on=starts, ends_on=starts + timedelta(days=200), price=0 if kind == "MUNICIPAL" else 500_000
    )
    return program


async def _all(gql, f, o=None) -> tuple[list[str], dict]:
    titles: list[str] = []
    after = None
    first = None
    while True:
        body = await gql(SEARCH, {"f": f, "o": o, "after": after})
        assert "errors" not in body, body
        page = body["data"]["programs"]
        first = first or page
        titles += [e["node"]["title"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return titles, first
        after = page["pageInfo"]["endCursor"]


async def test_distance_kind_form_and_ovz_filters(gql, db):
    provider = await add_provider(db)
    await _program(db, provider, "Шахматы рядом", at=_north(1))
    await _program(db, provider, "Бесплатный хор", at=_north(4), kind="MUNICIPAL", ovz=True)
    await _program(db, provider, "Платный теннис", at=_north(9.5), kind="PAID")
    await _program(db, provider, "Далёкий лагерь", at=_north(30), kind="MUNICIPAL")
    await _program(db, provider, "Онлайн-программирование", kind="PAID", form="дистанционная", ovz=True)
    near = {"latitude": CENTRE[0], "longitude": CENTRE[1], "radiusKm": 10}

    titles, page = await _all(gql, {"near": near}, "DISTANCE_ASC")
    assert titles == ["Шахматы рядом", "Бесплатный хор", "Платный теннис"]
    assert page["totalCount"] == 3
    assert {f["fundingKind"]: f["count"] for f in page["kindFacets"]} == {"CERTIFICATE": 1, "MUNICIPAL": 1, "PAID": 1}

    # the kind filter narrows the list; its facets still count every kind (as direction facets do)
    titles, page = await _all(gql, {"near": near, "fundingKind": "MUNICIPAL"}, "DISTANCE_ASC")
    assert titles == ["Бесплатный хор"] and page["totalCount"] == 1
    assert {f["fundingKind"]: f["count"] for f in page["kindFacets"]} == {"CERTIFICATE": 1, "MUNICIPAL": 1, "PAID": 1}
    assert sum(f["count"] for f in page["facets"]) == 1

    titles, _ = await _all(gql, {"fundingKind": "PAID"})
    assert sorted(titles) == ["Онлайн-программирование", "Платный теннис"]
    titles, _ = await _all(gql, {"form": "Дистанционная"})
    assert titles == ["Онлайн-программирование"]
    titles, _ = await _all(gql, {"forDisabilities": True})
    assert sorted(titles) == ["Бесплатный хор", "Онлайн-программирование"]
    titles, _ = await _all(gql, {"near": {**near, "radiusKm": 3.5}})
    assert titles == ["Шахматы рядом"]
    titles, _ = await _all(gql, {"near": {**near, "radiusKm": 50}, "forDisabilities": True})
    assert titles == ["Бесплатный хор"]


@pytest.mark.parametrize(
    "f, order",
    [
        (None, "DISTANCE_ASC"),
        ({"near": {"latitude": 91, "longitude": 0, "radiusKm": 5}}, None),
        ({"near": {"latitude": 55, "longitude": 37, "radiusKm": 0}}, None),
        ({"near": {"latitude": 55, "longitude": 37, "radiusKm": 5000}}, None),
    ],
)
async def test_a_bad_point_or_distance_order_without_one_is_bad_user_input(gql, db, f, order):
    body = await gql(SEARCH, {"f": f, "o": order})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "км" in body["errors"][0]["message"]


async def test_across_the_antimeridian_and_near_a_pole(gql, db):
    provider = await add_provider(db)
    await _program(db, provider, "Анадырь восток", at=(64.73, 179.95))
    await _program(db, provider, "Анадырь запад", at=(64.73, -179.95))
    await _program(db, provider, "Полюс", at=(89.95, 120.0))
    titles, _ = await _all(gql, {"near": {"latitude": 64.73, "longitude": 179.99, "radiusKm": 10}}, "DISTANCE_ASC")
    assert titles == ["Анадырь восток", "Анадырь запад"]
    titles, _ = await _all(gql, {"near": {"latitude": 89.99, "longitude": -60.0, "radiusKm": 20}})
    assert titles == ["Полюс"]


@pytest.mark.parametrize(
    "lat, lon, radius", [(55.75, 37.62, 10), (64.7, 179.99, 50), (-33.9, -179.9, 300), (0, 0, 1000)]
)
def test_the_box_holds_every_point_within_the_radius(lat, lon, radius):
    """Points on the circle (just inside) meet the bounding box's conditions."""
    near = Near(lat, lon, radius)
    conds, params = bounding_box(near)
    for bearing in range(0, 360, 5):
        b = math.radians(bearing)
        d = (radius * 0.999) / 6371
        la1, lo1 = math.radians(lat), math.radians(lon)
        la2 = math.asin(math.sin(la1) * math.cos(d) + math.cos(la1) * math.sin(d) * math.cos(b))
        lo2 = lo1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(la1), math.cos(d) - math.sin(la1) * math.sin(la2))
        plat, plon = math.degrees(la2), (math.degrees(lo2) + 540) % 360 - 180
        assert distance_km(lat, lon, plat, plon) <= radius
        assert params["lat_min"] <= plat <= params["lat_max"]
        if "lon_min" in params:
            lo, hi = params["lon_min"], params["lon_max"]
            inside = lo <= plon <= hi if "BETWEEN" in conds[1] else (plon >= lo or plon <= hi)
            assert inside, (bearing, plat, plon, params)
