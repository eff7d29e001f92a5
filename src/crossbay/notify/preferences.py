"""Reminder settings: the customer's thresholds and channels, with the defaults for those who never chose.

Kept free of the usage context so that usage can ask it for a new bundle's first alert level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from crossbay.errors import FieldProblem, ValidationFailed
from crossbay.esim.models import Esim
from crossbay.money import Money
from crossbay.notify.models import ReminderSettings

SMS, EMAIL, IN_APP = "sms", "email", "in_app"
CHANNELS = (SMS, EMAIL, IN_APP)
# Used percentages that always remind, whatever the customer's own threshold: 90% (100% is exhaustion).
FIXED_LEVELS = (90,)
LOW_DATA_RANGE = (10, 50)
EXPIRY_DAYS_RANGE = (0, 7)
LOW_BALANCE_MAX = 100_000  # HK$1,000: the largest single top-up
CURRENCY = "HKD"


@dataclass(frozen=True)
class Preferences:
    low_data_percent: int  # remaining
    expiry_days_before: int
    low_balance: Money  # zero: no low-balance reminder
    channels: tuple[str, ...]

    def data_levels(self) -> tuple[int, ...]:
        """Used percentages that remind, lowest first: the customer's threshold and 90%."""
        return tuple(sorted({100 - self.low_data_percent, *FIXED_LEVELS}))

    def next_level(self, used_percent: int) -> int | None:
        return next((level for level in self.data_levels() if level > used_percent), None)


DEFAULTS = Preferences(
    low_data_percent=20, expiry_days_before=1, low_balance=Money(5_000, CURRENCY), channels=CHANNELS
)


def _of(row: ReminderSettings | None) -> Preferences:
    if row is None:
        return DEFAULTS
    return Preferences(
        low_data_percent=row.low_data_percent,
        expiry_days_before=row.expiry_days_before,
        low_balance=Money(row.low_balance_amount, row.low_balance_currency),
        channels=tuple(c for c in CHANNELS if c in row.channels),
    )


def preferences_of(session: Session, customer_id: str) -> Preferences:
    return _of(session.get(ReminderSettings, customer_id))


def settings_row(session: Session, customer_id: str, *, now: datetime) -> ReminderSettings:
    """The customer's row, locked, made from the defaults if there is none yet."""
    row = session.get(ReminderSettings, customer_id, with_for_update=True)
    if row is None:
        row = ReminderSettings(
            customer_id=customer_id,
            low_data_percent=DEFAULTS.low_data_percent,
            expiry_days_before=DEFAULTS.expiry_days_before,
            low_balance_amount=DEFAULTS.low_balance.amount,
            low_balance_currency=DEFAULTS.low_balance.currency,
            channels=list(DEFAULTS.channels),
            low_balance_armed=False,
            updated_at=now,
        )
        session.add(row)
        session.flush()  # a concurrent first save fails here, inside the caller's transaction
    return row


def first_alert_percent(session: Session, esim_id: str) -> int | None:
    """The used percentage at which a new bundle on this eSIM first reminds (usage's hook)."""
    esim = session.get(Esim, esim_id)
    prefs = preferences_of(session, esim.customer_id) if esim is not None else DEFAULTS
    return prefs.next_level(0)


def check_preferences(
    *, low_data_percent: int, expiry_days_before: int, low_balance: Money, channels: list[str]
) -> Preferences:
    """The API's ranges; every field's problem is reported at once."""
    problems = []
    if not LOW_DATA_RANGE[0] <= low_data_percent <= LOW_DATA_RANGE[1]:
        problems.append(FieldProblem("low_data_percent", "out_of_range", "Choose between 10% and 50%"))
    if not EXPIRY_DAYS_RANGE[0] <= expiry_days_before <= EXPIRY_DAYS_RANGE[1]:
        problems.append(FieldProblem("expiry_days_before", "out_of_range", "Choose between 0 and 7 days"))
    if low_balance.currency != CURRENCY:
        problems.append(FieldProblem("low_balance", "currency_not_offered", "The wallet holds HKD"))
    elif not 0 <= low_balance.amount <= LOW_BALANCE_MAX:
        problems.append(FieldProblem("low_balance", "out_of_range", "Choose between HK$0 and HK$1,000"))
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown or len(set(channels)) != len(channels):
        problems.append(FieldProblem("channels", "invalid", "Choose from SMS, email and in-app"))
    if problems:
        raise ValidationFailed(errors=problems)
    return Preferences(
        low_data_percent, expiry_days_before, low_balance, tuple(c for c in CHANNELS if c in channels)
    )
