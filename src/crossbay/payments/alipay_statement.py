"""Alipay's daily trade bill (``bill_type=trade``): a zip of GBK CSV files, read and written.

``alipay.data.dataservice.bill.downloadurl.query`` answers a ``bill_download_url``; the zip
behind it holds ``…_业务明细.csv`` (one line per trade or refund, between ``#`` comment lines)
and ``…_业务明细(汇总).csv``. Long numbers carry a trailing tab so spreadsheets keep them as
text. A domestic bill names no currency (amounts are in the account's currency); a
cross-border merchant's bill, which settles several, carries a ``币种`` column, read when present.
The writer is what the sandbox serves; the reader is what the adapter trusts.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from crossbay.money import Money, money_from_decimal_string
from crossbay.payments.alipay_wire import CHINA, format_amount
from crossbay.payments.statements import StatementLine, StatementUnreadable, bill_line

BILL_DOWNLOAD_URL_QUERY = "alipay.data.dataservice.bill.downloadurl.query"
BILL_NOT_EXIST = "isp.bill_not_exist"  # Alipay's answer for a day without a single trade
ENCODING = "gbk"
TRADE, REFUND_TYPE = "交易", "退款"
COLUMNS = (
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
    "币种",
)
CURRENCY_COLUMN = "币种"
_DETAIL_SUFFIX, _SUMMARY_MARK = "业务明细.csv", "汇总"
_TIME = "%Y-%m-%d %H:%M:%S"
_RULE = "-" * 41


@dataclass(frozen=True)
class BillRow:
    """One line of the business detail, as the sandbox knows it (amounts positive)."""

    trade_no: str
    out_trade_no: str
    kind: str  # TRADE or REFUND_TYPE
    subject: str
    created_at: datetime
    finished_at: datetime
    amount: Money
    out_request_no: str = ""


# --- reading ---------------------------------------------------------------------------------------


def member_name(info: zipfile.ZipInfo) -> str:
    """A zip member's name: Alipay writes GBK names without the UTF-8 flag, which zipfile reads as cp437."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode(ENCODING)
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def read_bill(archive: bytes, *, currency: str) -> list[StatementLine]:
    """The trades and refunds of a trade bill zip; StatementUnreadable for anything else."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            details = [
                info
                for info in bundle.infolist()
                if member_name(info).endswith(_DETAIL_SUFFIX) and _SUMMARY_MARK not in member_name(info)
            ]
            if len(details) != 1:
                raise StatementUnreadable("the Alipay bill has no single business detail file")
            raw = bundle.read(details[0])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as error:
        raise StatementUnreadable("the Alipay bill is not a readable zip") from error
    try:
        text = raw.decode("gb18030")  # GBK's superset: a bill with a rarer character still reads
    except UnicodeDecodeError as error:
        raise StatementUnreadable("the Alipay bill is not GBK text") from error
    return read_detail(text, currency=currency)


def read_detail(text: str, *, currency: str) -> list[StatementLine]:
    """The bill's trades and refunds; amounts in ``currency`` unless a ``币种`` column names another."""
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not rows:
        raise StatementUnreadable("the Alipay bill has no column headers")
    reader = csv.reader(rows)
    header = [cell.strip() for cell in next(reader)]
    needed = ("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "商家实收（元）")
    if not set(needed) <= set(header) or "退款批次号/请求号" not in header:
        raise StatementUnreadable("the Alipay bill's columns are not the trade bill's")
    at = {name: header.index(name) for name in header}
    currency_at = at.get(CURRENCY_COLUMN)
    lines: list[StatementLine] = []
    for number, cells in enumerate(reader, start=2):
        if len(cells) < len(header):
            raise StatementUnreadable(f"line {number} of the Alipay bill is short")
        cell = [value.strip() for value in cells]  # drops the tab that keeps numbers as text
        kind = cell[at["业务类型"]]
        if kind not in (TRADE, REFUND_TYPE):
            continue  # other business types are not trades of ours
        in_currency = (cell[currency_at] if currency_at is not None else "") or currency
        try:
            if kind == TRADE:
                amount = money_from_decimal_string(cell[at["订单金额（元）"]], in_currency)
            else:  # a refund's received amount is negative: what left our account
                amount = -money_from_decimal_string(cell[at["商家实收（元）"]], in_currency)
            finished = datetime.strptime(cell[at["完成时间"]], _TIME).replace(tzinfo=CHINA)
        except ValueError as error:
            raise StatementUnreadable(f"line {number} of the Alipay bill has an unreadable value") from error
        reference = cell[at["商户订单号"]]
        lines.append(
            bill_line(
                "Alipay bill",
                number,
                refund=kind == REFUND_TYPE,
                reference=reference,
                amount=amount,
                provider_id=cell[at["支付宝交易号"]],
                refund_no=(cell[at["退款批次号/请求号"]] or None) if kind == REFUND_TYPE else None,
                at=finished,
            )
        )
    return lines


# --- writing (the sandbox's side) ------------------------------------------------------------------


def _chinese_day(day: date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def _stamp(at: datetime) -> str:
    return at.astimezone(CHINA).strftime(_TIME)


def write_bill(account: str, day: date, rows: Iterable[BillRow], *, exported_at: datetime) -> bytes:
    """The zip Alipay's bill URL answers for ``day``: the detail and its summary, GBK encoded."""
    rows = list(rows)
    trades = [row for row in rows if row.kind == TRADE]
    refunds = [row for row in rows if row.kind == REFUND_TYPE]
    received = sum(row.amount.amount for row in trades) - sum(row.amount.amount for row in refunds)
    currency = rows[0].amount.currency if rows else "CNY"
    period = (
        f"#起始日期：[{_chinese_day(day)} 00:00:00]   "
        f"终止日期：[{_chinese_day(date.fromordinal(day.toordinal() + 1))} 00:00:00]"
    )
    exported = exported_at.astimezone(CHINA)
    at_text = f"#导出时间：[{_chinese_day(exported.date())} {exported:%H:%M:%S}]"
    detail = io.StringIO()
    out = csv.writer(detail, lineterminator="\r\n")
    detail.write(f"#支付宝业务明细查询\r\n#账号：[{account}]\r\n{period}\r\n")
    detail.write(f"#{_RULE}业务明细列表{_RULE}\r\n")
    out.writerow(COLUMNS)
    for row in rows:
        signed = row.amount if row.kind == TRADE else -row.amount
        money = format_amount(signed)
        out.writerow(
            [
                f"{row.trade_no}\t",
                f"{row.out_trade_no}\t",
                row.kind,
                row.subject,
                _stamp(row.created_at),
                _stamp(row.finished_at),
                *[""] * 4,
                "san***@sandbox.example",
                money,
                money,
                *["0.00"] * 5,
                "",
                "0.00",
                "0.00",
                f"{row.out_request_no}\t" if row.out_request_no else "",
                "0.00",
                "0.00",
                "",
                row.amount.currency,
            ]
        )
    detail.write(f"#{_RULE}业务明细列表结束{_RULE}\r\n")
    total = format_amount(Money(received, currency))
    detail.write(f"#交易合计：{len(trades)}笔，退款合计：{len(refunds)}笔，商家实收共{total}元\r\n")
    detail.write(f"{at_text}\r\n")
    summary = io.StringIO()
    summary.write(f"#支付宝业务汇总查询\r\n#账号：[{account}]\r\n{period}\r\n")
    summary.write(f"#{_RULE}业务汇总列表{_RULE}\r\n")
    csv.writer(summary, lineterminator="\r\n").writerows(
        [
            ("门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）", "商家实收（元）"),
            ("", "合计", len(trades), len(refunds), total, total),
        ]
    )
    summary.write(f"#{_RULE}业务汇总列表结束{_RULE}\r\n{at_text}\r\n")
    stem = f"{account}_{day:%Y%m%d}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(f"{stem}_业务明细.csv", detail.getvalue().encode(ENCODING, errors="replace"))
        bundle.writestr(f"{stem}_业务明细(汇总).csv", summary.getvalue().encode(ENCODING))
    return buffer.getvalue()
