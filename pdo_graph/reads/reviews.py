"""Reads of reviews: one, and a program's pages with their count."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pdo_graph.reads.base import Key, Page, counts_by_owner, one_by_key, pages_by_owner


class ReviewRow(Protocol):
    id: int
    program_id: int
    rating: int
    text: str | None
    created_at: datetime


REVIEW_SQL = "SELECT r.id, r.program_id, r.rating, r.text, r.created_at FROM reviews r"

REVIEW: Key[int, ReviewRow | None] = one_by_key("review", REVIEW_SQL + " WHERE r.id = ANY(:keys)", ReviewRow)
REVIEWS_OF_PROGRAM: Key[Page, list[ReviewRow]] = pages_by_owner("reviews_of_program", REVIEW_SQL, "r.program_id")
REVIEW_COUNT: Key[int, int] = counts_by_owner("review_count", "reviews", "program_id")
