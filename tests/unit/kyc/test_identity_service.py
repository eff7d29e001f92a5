"""Real-name identity: recorded encrypted, shown masked, shared documents found by keyed hash."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crossbay.clock import FrozenClock
from crossbay.db import transaction
from crossbay.errors import ValidationFailed
from crossbay.kyc import service as kyc
from crossbay.kyc.documents import DocumentType
from crossbay.kyc.errors import (
    GuardianRequired,
    IdentityLocked,
    IdentityQuotaExceeded,
    IdentityRequired,
    InvalidDocumentNumber,
)
from crossbay.kyc.models import Identity
from crossbay.kyc.service import IdentityView
from crossbay.pii import PiiDecryptError
from tests.support import sensitive
from tests.unit.factories import HKID, OTHER_HKID, PII, make_customer

NAME = "陳大文"
DOB = date(1990, 1, 1)


# An id, not the ORM object: a refused use case rolls back and expires every object the session holds.
@pytest.fixture
def customer_id(session: Session, clock: FrozenClock) -> str:
    return make_customer(session, now=clock.now()).id


def record(
    session: Session,
    clock: FrozenClock,
    customer_id: str,
    *,
    number: str = HKID,
    document_type: DocumentType = DocumentType.HKID,
    full_name: str = NAME,
    date_of_birth: date = DOB,
    holds_esims: bool = False,
) -> IdentityView:
    with transaction(session):
        return kyc.record_identity(
            session,
            customer_id=customer_id,
            full_name=full_name,
            document_type=document_type,
            document_number=number,
            date_of_birth=date_of_birth,
            holds_esims=holds_esims,
            pii=PII,
            now=clock.now(),
        )


def stored(session: Session, customer_id: str) -> Identity:
    with transaction(session):
        identity = session.get(Identity, customer_id, populate_existing=True)
        assert identity is not None
        return identity


def view(session: Session, customer_id: str) -> IdentityView:
    with transaction(session):
        return kyc.get_identity_view(session, customer_id=customer_id, pii=PII)


class TestRecordIdentity:
    def test_records_a_verified_identity_and_answers_masked(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        answer = record(session, clock, customer_id, number="a123456(3)")
        assert answer == IdentityView(
            status="verified",
            document_type="hkid",
            full_name_masked="陳*文",
            document_number_masked="A12****(3)",
            verified_at=clock.now(),
        )

    def test_every_read_shows_the_same_masked_fields(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        answer = record(session, clock, customer_id, full_name="Chan Tai Man")
        assert view(session, customer_id) == answer
        assert answer.full_name_masked == "C*** T** M**"

    def test_a_customer_without_an_identity_reads_as_none(self, session: Session, customer_id: str) -> None:
        assert view(session, customer_id) == IdentityView(status="none")

    def test_stores_no_plaintext_name_number_or_birth_date(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        sensitive.register(NAME, HKID, "A123456(3)")
        record(session, clock, customer_id, number="A123456(3)")
        with transaction(session):
            row = session.execute(select(Identity.__table__).where(Identity.customer_id == customer_id)).one()
        text = " ".join(str(value) for value in row)
        for plain in (NAME, "陳", HKID, "A123456", DOB.isoformat(), "1990"):
            assert plain not in text
        assert row.number_lookup != HKID

    def test_the_ciphertexts_are_bound_to_their_row(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        other = make_customer(session, now=clock.now())
        record(session, clock, customer_id)
        record(session, clock, other.id, number=OTHER_HKID, full_name="李小明")
        copied = stored(session, customer_id).number_encrypted
        with transaction(session):
            session.execute(
                update(Identity).where(Identity.customer_id == other.id).values(number_encrypted=copied)
            )
        with pytest.raises(PiiDecryptError):
            view(session, other.id)

    def test_the_same_document_on_two_accounts_shares_its_lookup_hash(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        second, stranger = make_customer(session, now=clock.now()), make_customer(session, now=clock.now())
        record(session, clock, customer_id, number="A123456(3)")
        record(session, clock, second.id, number="a 1234563")  # the same card, typed differently
        record(session, clock, stranger.id, number=OTHER_HKID)
        mine = stored(session, customer_id)
        assert mine.number_lookup == stored(session, second.id).number_lookup
        assert mine.number_lookup != stored(session, stranger.id).number_lookup
        with transaction(session):
            assert sorted(kyc.lock_document_holders(session, identity=mine)) == sorted(
                [customer_id, second.id]
            )

    def test_the_same_number_on_another_document_type_is_another_document(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        other = make_customer(session, now=clock.now())
        record(session, clock, customer_id, number=HKID)
        record(session, clock, other.id, number=HKID, document_type=DocumentType.PASSPORT)
        assert stored(session, customer_id).number_lookup != stored(session, other.id).number_lookup

    def test_changing_documents_while_holding_esims_is_refused(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        record(session, clock, customer_id)
        before = stored(session, customer_id).number_lookup
        with pytest.raises(IdentityLocked):
            record(session, clock, customer_id, number=OTHER_HKID, full_name="李小明", holds_esims=True)
        assert stored(session, customer_id).number_lookup == before
        assert view(session, customer_id).full_name_masked == "陳*文"

    def test_the_same_document_can_be_recorded_again_while_holding_esims(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        record(session, clock, customer_id, full_name="陳大民")
        answer = record(session, clock, customer_id, number="A123456(3)", holds_esims=True)
        assert answer.full_name_masked == "陳*文"

    def test_documents_can_be_changed_before_any_esim(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        record(session, clock, customer_id)
        answer = record(session, clock, customer_id, number=OTHER_HKID)
        assert answer.document_number_masked == "C12****(9)"

    @pytest.mark.parametrize(
        ("number", "document_type", "error"),
        [
            ("A1234564", DocumentType.HKID, InvalidDocumentNumber),  # wrong check digit
            ("12345", DocumentType.HKID, InvalidDocumentNumber),
            ("11010519491231002Y", DocumentType.PRC_ID, InvalidDocumentNumber),
        ],
    )
    def test_refuses_a_malformed_number_and_stores_nothing(
        self,
        session: Session,
        clock: FrozenClock,
        customer_id: str,
        number: str,
        document_type: DocumentType,
        error: type[Exception],
    ) -> None:
        with pytest.raises(error):
            record(session, clock, customer_id, number=number, document_type=document_type)
        assert view(session, customer_id).status == "none"

    def test_refuses_an_unusable_name(self, session: Session, clock: FrozenClock, customer_id: str) -> None:
        with pytest.raises(ValidationFailed):
            record(session, clock, customer_id, full_name="陳大文2")

    def test_refuses_a_holder_under_sixteen_on_the_hong_kong_day(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        clock.set(datetime(2026, 11, 25, 16, 30, tzinfo=UTC))  # 00:30 on 26 November in Hong Kong
        record(session, clock, customer_id, date_of_birth=date(2010, 11, 26))  # sixteen today in Hong Kong
        with pytest.raises(GuardianRequired):
            record(session, clock, customer_id, date_of_birth=date(2010, 11, 27))


class TestRequireVerifiedIdentity:
    def test_refuses_a_customer_without_an_identity(self, session: Session, customer_id: str) -> None:
        with pytest.raises(IdentityRequired), transaction(session):
            kyc.require_verified_identity(session, customer_id=customer_id)

    def test_returns_the_verified_identity(
        self, session: Session, clock: FrozenClock, customer_id: str
    ) -> None:
        record(session, clock, customer_id)
        with transaction(session):
            assert kyc.require_verified_identity(session, customer_id=customer_id).status == "verified"


class TestCheckQuota:
    @pytest.mark.parametrize(("held", "quota"), [(0, 10), (9, 10), (0, 1)])
    def test_allows_while_under_the_quota(self, held: int, quota: int) -> None:
        kyc.check_quota(held, quota)

    @pytest.mark.parametrize(("held", "quota"), [(10, 10), (11, 10), (1, 1), (0, 0)])
    def test_refuses_at_or_over_the_quota(self, held: int, quota: int) -> None:
        with pytest.raises(IdentityQuotaExceeded) as refused:
            kyc.check_quota(held, quota)
        assert refused.value.status == 409
