"""The eSIM list is read on every app start: its query count must not grow with the number of eSIMs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from crossbay.clock import FrozenClock
from crossbay.db import new_id, transaction
from crossbay.esim import service as esims
from crossbay.esim.routes import esim_reads
from crossbay.usage import service as usage
from tests.unit.factories import make_customer, make_esim, make_package


@contextmanager
def counting_queries(session: Session) -> Iterator[list[str]]:
    """Every statement the session's connection sends while the block runs."""
    statements: list[str] = []
    connection = session.connection()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", record)


@pytest.mark.parametrize("n", [1, 3, 6])
def test_listing_esims_with_their_bundles_takes_four_queries_whatever_their_number(
    session: Session, clock: FrozenClock, n: int
) -> None:
    customer = make_customer(session, now=clock.now())
    packages = [make_package(session, now=clock.now()) for _ in range(2)]
    for i in range(n):
        esim = make_esim(session, customer_id=customer.id, now=clock.now())
        with transaction(session):
            for package in packages[: 1 + i % 2]:
                usage.add_bundle(
                    session, esim_id=esim.id, order_id=new_id("ord"), package=package, now=clock.now()
                )
    session.expunge_all()  # nothing cached: every row must come from the database
    with transaction(session), counting_queries(session) as statements:
        reads = esim_reads(session, esims.list_esims(session, customer_id=customer.id), "en")
    assert len(reads) == n
    assert sum(len(r.bundles) for r in reads) == sum(1 + i % 2 for i in range(n))
    assert all(r.activation_code and r.bundles[0].name.endswith("pack") for r in reads)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert all(len(r.timeline) == 2 for r in reads)  # preparing, ready
    assert 1 <= len(selects) <= 4, statements
