"""WeChat Pay's daily trade bill (``GET /v3/bill/tradebill``): a CSV read and written.

The answer names a ``download_url`` and the file's ``hash_type``/``hash_value``; the file is
UTF-8 CSV whose every detail field starts with a back-tick (so spreadsheets keep numbers as
text), followed by a summary header and one summary line. Amounts are major units.
The writer is what the sandbox serves; the reader is what the adapter trusts.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from crossbay.money import Money, money_from_decimal_string
from crossbay.payments.alipay_wire import format_amount
from crossbay.payments.statements import StatementLine, StatementUnreadable, bill_line

CHINA_TIME = timezone(timedelta(hours=8))
SUCCESS, REFUND_STATE = "SUCCESS", "REFUND"
NO_STATEMENT = "NO_STATEMENT_EXIST"  # WeChat Pay's answer for a day without a single trade
COLUMNS = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
)
SUMMARY_COLUMNS = (
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
)
_HASHES = {"SHA1": hashlib.sha1}
_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class BillRow:
    """One line of the trade bill, as the sandbox knows it (amounts positive)."""

    at: datetime
    appid: str
    mchid: str
    transaction_id: str
    out_trade_no: str
    trade_type: str
    state: str  # SUCCESS or REFUND
    amount: Money  # the payment, or the refund on a REFUND line
    description: str
    refund_id: str = ""
    out_refund_no: str = ""


def digest_matches(content: bytes, hash_type: str, hash_value: str) -> bool:
    """The file is the one the bill answer described (compared in constant time)."""
    algorithm = _HASHES.get(hash_type.upper())
    if algorithm is None:
        return False
    # SHA-1 here is WeChat Pay's integrity check of a file, not a signature.
    expected = algorithm(content).hexdigest()
    return hmac.compare_digest(expected, hash_value.lower())


def file_digest(content: bytes) -> tuple[str, str]:
    return "SHA1", hashlib.sha1(content).hexdigest()  # noqa: S324 - the wire's integrity hash


# --- reading ---------------------------------------------------------------------------------------


def _fields(cells: list[str]) -> list[str]:
    return [cell.strip().removeprefix("`").strip() for cell in cells]


def read_bill(content: bytes) -> list[StatementLine]:
    """Payments (SUCCESS) and refunds (REFUND) of a trade bill, checked against its summary line."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise StatementUnreadable("the WeChat Pay bill is not UTF-8") from error
    rows = list(csv.reader(line for line in text.splitlines() if line.strip()))
    if not rows or _fields(rows[0])[: len(COLUMNS)] != list(COLUMNS):
        raise StatementUnreadable("the WeChat Pay bill's columns are not the trade bill's")
    header = _fields(rows[0])
    at = {name: header.index(name) for name in COLUMNS}
    try:
        summary_at = next(i for i, row in enumerate(rows) if _fields(row)[:1] == [SUMMARY_COLUMNS[0]])
    except StopIteration:
        raise StatementUnreadable("the WeChat Pay bill has no summary: it was cut short") from None
    if summary_at + 2 != len(rows):
        raise StatementUnreadable("the WeChat Pay bill has no single summary line at its end")
    lines: list[StatementLine] = []
    settled_total, refund_total = 0, 0
    currencies: set[str] = set()
    for number, cells in enumerate(rows[1:summary_at], start=2):
        cell = _fields(cells)
        if len(cell) < len(header):
            raise StatementUnreadable(f"line {number} of the WeChat Pay bill is short")
        currency = cell[at["货币种类"]]
        if not (len(currency) == 3 and currency.isascii() and currency.isupper()):
            raise StatementUnreadable(f"line {number} of the WeChat Pay bill has no ISO currency")
        try:
            settled = money_from_decimal_string(cell[at["应结订单金额"]], currency)
            refunded = money_from_decimal_string(cell[at["退款金额"]], currency)
            when = datetime.strptime(cell[at["交易时间"]], _TIME).replace(tzinfo=CHINA_TIME)
        except ValueError as error:
            raise StatementUnreadable(
                f"line {number} of the WeChat Pay bill has an unreadable value"
            ) from error
        currencies.add(currency)
        settled_total += settled.amount
        refund_total += refunded.amount
        state, reference = cell[at["交易状态"]], cell[at["商户订单号"]]
        if state not in (SUCCESS, REFUND_STATE):
            continue  # REVOKED and the like moved no money
        amount = settled if state == SUCCESS else refunded
        lines.append(
            bill_line(
                "WeChat Pay bill",
                number,
                refund=state == REFUND_STATE,
                reference=reference,
                amount=amount,
                provider_id=cell[at["微信订单号"]],
                refund_no=(cell[at["商户退款单号"]] or None) if state == REFUND_STATE else None,
                at=when,
            )
        )
    _check_summary(rows[summary_at], rows[summary_at + 1], currencies, settled_total, refund_total)
    return lines


def _check_summary(
    header: list[str], values: list[str], currencies: set[str], settled: int, refunded: int
) -> None:
    names, cells = _fields(header), _fields(values)
    if names[: len(SUMMARY_COLUMNS)] != list(SUMMARY_COLUMNS) or len(cells) < len(SUMMARY_COLUMNS):
        raise StatementUnreadable("the WeChat Pay bill's summary is not the trade bill's")
    if len(currencies) > 1:
        return  # one summary over several currencies adds nothing that could be checked
    currency = next(iter(currencies), "CNY")
    try:
        totals = (
            money_from_decimal_string(cells[1], currency).amount,
            money_from_decimal_string(cells[2], currency).amount,
        )
    except ValueError as error:
        raise StatementUnreadable("the WeChat Pay bill's summary is unreadable") from error
    if totals != (settled, refunded):
        raise StatementUnreadable("the WeChat Pay bill's lines do not add up to its summary")


# --- writing (the sandbox's side) ------------------------------------------------------------------


def write_bill(rows: Iterable[BillRow]) -> bytes:
    """The trade bill file (``bill_type=ALL``) for the given lines, with its summary."""
    rows = list(rows)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(COLUMNS)
    settled_total, refund_total, fee_total = 0, 0, 0
    for row in rows:
        paid = row.state == SUCCESS
        money = format_amount(row.amount)
        zero = "0.00"
        settled_total += row.amount.amount if paid else 0
        refund_total += 0 if paid else row.amount.amount
        fee_minor = row.amount.amount * 6 // 1000  # a 0.6% rate, returned on refund
        fee_total += fee_minor if paid else -fee_minor
        fee = format_amount(Money(fee_minor, row.amount.currency))
        cells = [
            row.at.astimezone(CHINA_TIME).strftime(_TIME),
            row.appid,
            row.mchid,
            "0",
            "",
            row.transaction_id,
            row.out_trade_no,
            "o" + hashlib.sha256(row.transaction_id.encode()).hexdigest()[:27],
            row.trade_type,
            row.state,
            "OTHERS",
            row.amount.currency,
            money if paid else zero,
            zero,
            "" if paid else row.refund_id,
            "" if paid else row.out_refund_no,
            zero if paid else money,
            zero,
            "" if paid else "ORIGINAL",
            "" if paid else "SUCCESS",
            row.description,
            "",
            fee if paid else f"-{fee}",
            "0.60%",
            money if paid else zero,
            zero if paid else money,
            "",
        ]
        out.writerow([f"`{cell}" for cell in cells])
    currency = rows[0].amount.currency if rows else "CNY"
    out.writerow(SUMMARY_COLUMNS)
    settled_text = format_amount(Money(settled_total, currency))
    refund_text = format_amount(Money(refund_total, currency))
    fees = format_amount(Money(fee_total, currency))
    summary = [str(len(rows)), settled_text, refund_text, "0.00", fees, settled_text, refund_text]
    out.writerow([f"`{cell}" for cell in summary])
    return buffer.getvalue().encode("utf-8")
