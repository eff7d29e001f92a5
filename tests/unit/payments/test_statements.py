"""Reading statement files: Alipay's GBK zip, WeChat Pay's back-tick CSV, card balance transactions."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime

import pytest

from crossbay.money import Money
from crossbay.payments import alipay_statement, wechatpay_statement
from crossbay.payments.card import statement_line
from crossbay.payments.statements import PAYMENT, REFUND, StatementLine, StatementUnreadable

# A domestic merchant's bill: no currency column (a cross-border one adds 币种 at the end).
ALIPAY_HEADER = ",".join(c for c in alipay_statement.COLUMNS if c != alipay_statement.CURRENCY_COLUMN)
ALIPAY_DETAIL = "\r\n".join(
    [
        "#支付宝业务明细查询",
        "#账号：[20881234567890120156]",
        "#起始日期：[2026年11月26日 00:00:00]   终止日期：[2026年11月27日 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ALIPAY_HEADER,
        "2026112622001400000000000001\t,pay_aaaa\t,交易,5GB 香港數據 7 日,2026-11-26 10:00:00,"
        "2026-11-26 10:00:31,,,,,san***@sandbox.example,88.00,88.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,"
        "-0.53,0.00,",
        "2026112622001400000000000002\t,pay_bbbb\t,交易,10GB 大灣區 30 日,2026-11-26 11:00:00,"
        "2026-11-26 11:00:09,,,,,san***@sandbox.example,168.00,168.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,"
        "-1.01,0.00,",
        "2026112622001400000000000002\t,pay_bbbb\t,退款,10GB 大灣區 30 日,2026-11-26 11:00:00,"
        "2026-11-26 15:30:00,,,,,san***@sandbox.example,-168.00,-168.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,"
        "refund-pay_bbbb\t,1.01,0.00,",
        "#-----------------------------------------业务明细列表结束------------------------------------",
        "#交易合计：2笔，退款合计：1笔，商家实收共88.00元",
        "#导出时间：[2026年11月27日 10:00:00]",
    ]
)
GBK_DETAIL_NAME = "业务明细".encode("gbk")


def _gbk_named_zip(detail: str) -> bytes:
    """A zip as Alipay sends it: GBK text and GBK member names without the UTF-8 flag."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("20881234567890120156_20261126_XXXXXXXX.csv", detail.encode("gbk"))
        bundle.writestr("20881234567890120156_20261126_XXXXXXXX(YYYY).csv", "#汇总\r\n".encode("gbk"))
    # Same length in bytes, so every offset in the archive stays right.
    raw = buffer.getvalue().replace(b"XXXXXXXX", GBK_DETAIL_NAME).replace(b"YYYY", "汇总".encode("gbk"))
    return raw


class TestAlipayBill:
    def test_reads_trades_and_refunds_from_a_gbk_zip(self) -> None:
        lines = alipay_statement.read_bill(_gbk_named_zip(ALIPAY_DETAIL), currency="HKD")

        assert [(line.kind, line.reference, line.amount, line.refund_no) for line in lines] == [
            (PAYMENT, "pay_aaaa", Money(8800, "HKD"), None),
            (PAYMENT, "pay_bbbb", Money(16800, "HKD"), None),
            (REFUND, "pay_bbbb", Money(16800, "HKD"), "refund-pay_bbbb"),
        ]
        assert lines[0].provider_id == "2026112622001400000000000001"
        assert lines[2].at == datetime(2026, 11, 26, 7, 30, tzinfo=UTC)

    def test_member_names_in_gbk_are_recognised(self) -> None:
        with zipfile.ZipFile(io.BytesIO(_gbk_named_zip(ALIPAY_DETAIL))) as bundle:
            names = [alipay_statement.member_name(info) for info in bundle.infolist()]
        assert names == [
            "20881234567890120156_20261126_业务明细.csv",
            "20881234567890120156_20261126_业务明细(汇总).csv",
        ]

    def test_the_sandbox_writer_is_read_back_exactly(self) -> None:
        at = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
        rows = [
            alipay_statement.BillRow(
                "2026T1", "pay_1", alipay_statement.TRADE, "數據", at, at, Money(4800, "HKD")
            ),
            alipay_statement.BillRow(
                "2026T1",
                "pay_1",
                alipay_statement.REFUND_TYPE,
                "數據",
                at,
                at,
                Money(4800, "HKD"),
                "refund-pay_1",
            ),
        ]
        archive = alipay_statement.write_bill("20880156", date(2026, 11, 26), rows, exported_at=at)

        lines = alipay_statement.read_bill(archive, currency="HKD")

        assert [(line.kind, line.amount.amount, line.refund_no) for line in lines] == [
            (PAYMENT, 4800, None),
            (REFUND, 4800, "refund-pay_1"),
        ]

    def test_a_cross_border_bill_names_each_lines_currency(self) -> None:
        at = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
        rows = [
            alipay_statement.BillRow(
                "2026T1", "pay_1", alipay_statement.TRADE, "數據", at, at, Money(4400, "CNY")
            ),
            alipay_statement.BillRow(
                "2026T2", "pay_2", alipay_statement.TRADE, "數據", at, at, Money(4800, "HKD")
            ),
        ]
        archive = alipay_statement.write_bill("20880156", date(2026, 11, 26), rows, exported_at=at)

        lines = alipay_statement.read_bill(archive, currency="HKD")

        assert [line.amount for line in lines] == [Money(4400, "CNY"), Money(4800, "HKD")]

    @pytest.mark.parametrize(
        "damage",
        [
            lambda text: text.replace("订单金额（元）", "金额"),  # another layout
            lambda text: text.replace("88.00,88.00", "88.001,88.001"),  # a fraction of a cent
            lambda text: text.replace("2026-11-26 10:00:31", "yesterday"),
        ],
    )
    def test_a_changed_layout_or_value_is_refused(self, damage: object) -> None:
        assert callable(damage)
        with pytest.raises(StatementUnreadable):
            alipay_statement.read_bill(_gbk_named_zip(damage(ALIPAY_DETAIL)), currency="HKD")

    def test_not_a_zip_is_refused(self) -> None:
        with pytest.raises(StatementUnreadable):
            alipay_statement.read_bill(b"<html>error</html>", currency="HKD")


WECHAT_HEADER = ",".join(wechatpay_statement.COLUMNS)
WECHAT_SUMMARY_HEADER = ",".join(wechatpay_statement.SUMMARY_COLUMNS)


def _wechat_line(*cells: str) -> str:
    return ",".join(f"`{cell}" for cell in cells)


def _wechat_row(
    state: str, out_trade_no: str, settled: str, refund: str = "0.00", out_refund_no: str = ""
) -> str:
    return _wechat_line(
        "2026-11-26 12:00:00",
        "wx8888888888888888",
        "1900000109",
        "0",
        "",
        "4200000000202611260000000001",
        out_trade_no,
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "MWEB",
        state,
        "OTHERS",
        "HKD",
        settled,
        "0.00",
        "50300000000000000000000001" if out_refund_no else "",
        out_refund_no,
        refund,
        "0.00",
        "ORIGINAL" if out_refund_no else "",
        "SUCCESS" if out_refund_no else "",
        "5GB 香港數據, 7 日",
        "",
        "0.53",
        "0.60%",
        settled,
        refund,
        "",
    )


WECHAT_BILL = "\r\n".join(
    [
        WECHAT_HEADER,
        _wechat_row("SUCCESS", "pay_cccc", "88.00"),
        _wechat_row("REFUND", "pay_cccc", "0.00", "88.00", "refund-pay_cccc"),
        _wechat_row("REVOKED", "pay_dddd", "0.00"),
        _wechat_row("SUCCESS", "pay_eeee", "48.00"),
        WECHAT_SUMMARY_HEADER,
        _wechat_line("4", "136.00", "88.00", "0.00", "1.06", "136.00", "88.00"),
    ]
).encode()


class TestWechatPayBill:
    def test_reads_payments_and_refunds_and_skips_other_states(self) -> None:
        lines = wechatpay_statement.read_bill(WECHAT_BILL)

        assert [(line.kind, line.reference, line.amount, line.refund_no) for line in lines] == [
            (PAYMENT, "pay_cccc", Money(8800, "HKD"), None),
            (REFUND, "pay_cccc", Money(8800, "HKD"), "refund-pay_cccc"),
            (PAYMENT, "pay_eeee", Money(4800, "HKD"), None),
        ]
        assert lines[0].provider_id == "4200000000202611260000000001"
        assert lines[0].at == datetime(2026, 11, 26, 4, 0, tzinfo=UTC)

    def test_lines_that_do_not_add_up_to_the_summary_are_refused(self) -> None:
        with pytest.raises(StatementUnreadable, match="summary"):
            wechatpay_statement.read_bill(WECHAT_BILL.replace(b"`48.00", b"`49.00"))

    def test_a_bill_cut_short_is_refused(self) -> None:
        cut = WECHAT_BILL[: WECHAT_BILL.index(WECHAT_SUMMARY_HEADER.encode())]
        with pytest.raises(StatementUnreadable, match="cut short"):
            wechatpay_statement.read_bill(cut)

    def test_the_hash_vouches_for_the_file(self) -> None:
        hash_type, value = wechatpay_statement.file_digest(WECHAT_BILL)
        assert hash_type == "SHA1"
        assert wechatpay_statement.digest_matches(WECHAT_BILL, "SHA1", value.upper())
        assert not wechatpay_statement.digest_matches(WECHAT_BILL + b" ", "SHA1", value)
        assert not wechatpay_statement.digest_matches(WECHAT_BILL, "MD5", value)

    def test_the_sandbox_writer_is_read_back_exactly(self) -> None:
        at = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
        common = dict(at=at, appid="wx1", mchid="1900", transaction_id="4200", trade_type="MWEB")
        rows = [
            wechatpay_statement.BillRow(
                **common, out_trade_no="pay_1", state="SUCCESS", amount=Money(9900, "CNY"), description="a"
            ),
            wechatpay_statement.BillRow(
                **common,
                out_trade_no="pay_1",
                state="REFUND",
                amount=Money(9900, "CNY"),
                description="a",
                refund_id="503",
                out_refund_no="refund-pay_1",
            ),
        ]
        lines = wechatpay_statement.read_bill(wechatpay_statement.write_bill(rows))
        assert [(line.kind, line.amount, line.refund_no) for line in lines] == [
            (PAYMENT, Money(9900, "CNY"), None),
            (REFUND, Money(9900, "CNY"), "refund-pay_1"),
        ]


class TestCardBalanceTransactions:
    def test_charges_and_refunds_name_their_payment_intent(self) -> None:
        charge = {
            "id": "txn_1",
            "type": "charge",
            "amount": 8800,
            "currency": "hkd",
            "created": 1_795_000_000,
            "source": {"id": "ch_1", "object": "charge", "payment_intent": "pi_1"},
        }
        refund = {**charge, "id": "txn_2", "type": "refund", "amount": -8800}
        refund["source"] = {"id": "re_1", "object": "refund", "payment_intent": "pi_1"}

        assert statement_line(charge) == StatementLine(
            kind=PAYMENT,
            reference="pi_1",
            amount=Money(8800, "HKD"),
            provider_id="ch_1",
            at=datetime.fromtimestamp(1_795_000_000, UTC),
        )
        line = statement_line(refund)
        assert line is not None and (line.kind, line.amount, line.refund_no) == (
            REFUND,
            Money(8800, "HKD"),
            "re_1",
        )
        assert statement_line({**charge, "type": "payout"}) is None

    def test_an_unexpanded_source_is_refused(self) -> None:
        with pytest.raises(StatementUnreadable):
            statement_line(
                {"id": "txn_1", "type": "charge", "amount": 1, "currency": "hkd", "source": "ch_1"}
            )
