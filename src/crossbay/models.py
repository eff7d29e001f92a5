"""Imports every table so metadata (and Alembic) sees the whole schema."""

from crossbay.admin.models import StaffAccount, StaffSession
from crossbay.api.models import IdempotencyRecord
from crossbay.audit.models import AuditEvent, KnownDevice
from crossbay.catalog.models import Package
from crossbay.catalog.price_changes import PriceChange
from crossbay.db import Base
from crossbay.esim.models import (
    Esim,
    EsimTransition,
    ProfileBatch,
    ProfileStockAlert,
    SmdpProgressNotice,
    StockProfile,
)
from crossbay.identity.models import AuthToken, Customer, OtpChallenge, PasswordGuard
from crossbay.jobs.models import Job
from crossbay.kyc.models import Identity
from crossbay.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from crossbay.notify.models import AutoRenewal, Notification, NotifyCursor, ReminderSent, ReminderSettings
from crossbay.orders.models import Order, OrderEvent, OrderLine
from crossbay.payments.models import Payment, ProviderEvent, WalletTopup
from crossbay.payments.reconciliation_models import ReconciliationDifference, ReconciliationRun
from crossbay.promotions.models import CouponCode, CouponRedemption, CustomerCoupon, Promotion
from crossbay.sandbox import alipay_models, card_models, email, smdp_models, sms, wechatpay_models
from crossbay.support.models import Ticket, TicketMessage
from crossbay.usage.models import Bundle, CreditSession, UsageDaily, UsageEvent, UsageRecord

__all__ = [
    "AuditEvent",
    "AuthToken",
    "AutoRenewal",
    "Base",
    "Bundle",
    "CouponCode",
    "CouponRedemption",
    "CreditSession",
    "Customer",
    "CustomerCoupon",
    "Esim",
    "EsimTransition",
    "IdempotencyRecord",
    "Identity",
    "Job",
    "KnownDevice",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "Notification",
    "NotifyCursor",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OtpChallenge",
    "Package",
    "PasswordGuard",
    "Payment",
    "PriceChange",
    "ProfileBatch",
    "ProfileStockAlert",
    "Promotion",
    "ProviderEvent",
    "ReconciliationDifference",
    "ReconciliationRun",
    "ReminderSent",
    "ReminderSettings",
    "SmdpProgressNotice",
    "StaffAccount",
    "StaffSession",
    "StockProfile",
    "Ticket",
    "TicketMessage",
    "UsageDaily",
    "UsageEvent",
    "UsageRecord",
    "WalletTopup",
    "alipay_models",
    "card_models",
    "email",
    "smdp_models",
    "sms",
    "wechatpay_models",
]
