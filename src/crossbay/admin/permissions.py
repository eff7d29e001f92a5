"""Who may do what in the back office: the one table. Every admin route names one action from it."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    CATALOG = "catalog"
    SUPPORT = "support"
    FINANCE = "finance"


class Action(StrEnum):
    DASHBOARD = "dashboard"
    PACKAGES_VIEW = "packages.view"
    PACKAGES_SALE = "packages.sale"  # take a package off sale or put it back
    PRICES_SCHEDULE = "prices.schedule"
    PROMOTIONS_VIEW = "promotions.view"
    PROMOTIONS_MANAGE = "promotions.manage"  # create, switch off/on, generate and export codes
    CUSTOMERS_VIEW = "customers.view"
    IDENTITY_REVEAL = "identity.reveal"
    ORDERS_VIEW = "orders.view"
    ORDERS_REFUND = "orders.refund"
    ORDERS_RETRY = "orders.retry_fulfilment"
    ESIMS_VIEW = "esims.view"
    ESIMS_SUSPEND = "esims.suspend"  # suspend and resume
    ESIMS_TERMINATE = "esims.terminate"
    TICKETS_VIEW = "tickets.view"
    TICKETS_ANSWER = "tickets.answer"
    REPORTS_VIEW = "reports.view"
    RECONCILIATION_VIEW = "reconciliation.view"
    AUDIT_VIEW = "audit.view"


ADMIN, CATALOG, SUPPORT, FINANCE = Role.ADMIN, Role.CATALOG, Role.SUPPORT, Role.FINANCE

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.DASHBOARD: frozenset(Role),
    Action.PACKAGES_VIEW: frozenset({ADMIN, CATALOG, SUPPORT, FINANCE}),
    Action.PACKAGES_SALE: frozenset({ADMIN, CATALOG}),
    Action.PRICES_SCHEDULE: frozenset({ADMIN, CATALOG}),
    # Finance reads campaigns and their uses (discounts are contra-revenue); only catalog runs them.
    Action.PROMOTIONS_VIEW: frozenset({ADMIN, CATALOG, FINANCE}),
    # Codes are money to whoever holds them: exporting them is managing, not reading.
    Action.PROMOTIONS_MANAGE: frozenset({ADMIN, CATALOG}),
    Action.CUSTOMERS_VIEW: frozenset({ADMIN, SUPPORT, FINANCE}),
    # Seeing a full name and document number is for support checking a caller, and is audited.
    Action.IDENTITY_REVEAL: frozenset({ADMIN, SUPPORT}),
    Action.ORDERS_VIEW: frozenset({ADMIN, SUPPORT, FINANCE}),
    # Money goes back only on finance's (or an admin's) say.
    Action.ORDERS_REFUND: frozenset({ADMIN, FINANCE}),
    Action.ORDERS_RETRY: frozenset({ADMIN, SUPPORT}),
    Action.ESIMS_VIEW: frozenset({ADMIN, SUPPORT}),
    Action.ESIMS_SUSPEND: frozenset({ADMIN, SUPPORT}),
    # Terminating cannot be undone: the profile is gone for good.
    Action.ESIMS_TERMINATE: frozenset({ADMIN}),
    Action.TICKETS_VIEW: frozenset({ADMIN, SUPPORT}),
    Action.TICKETS_ANSWER: frozenset({ADMIN, SUPPORT}),
    Action.REPORTS_VIEW: frozenset({ADMIN, FINANCE}),
    Action.RECONCILIATION_VIEW: frozenset({ADMIN, FINANCE}),
    Action.AUDIT_VIEW: frozenset({ADMIN}),
}


def allowed(role: str, action: Action) -> bool:
    return role in PERMISSIONS[action]


def actions_of(role: str) -> frozenset[Action]:
    return frozenset(action for action, roles in PERMISSIONS.items() if role in roles)
