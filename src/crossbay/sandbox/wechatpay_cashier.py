"""The sandbox WeChat Pay's cashier page: what a payer sees at WeChat Pay, in three languages."""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlsplit

from crossbay.money import Money
from crossbay.sandbox import cashier_page
from crossbay.sandbox.wechatpay_models import SandboxWechatPayTransaction

NOTPAY, SUCCESS, REFUND, CLOSED = "NOTPAY", "SUCCESS", "REFUND", "CLOSED"

_TEXT: dict[str, dict[str, str]] = {
    "zh-Hant": {
        "title": "沙盒微信支付",
        "merchant": "商戶",
        "amount": "金額",
        "order": "訂單號",
        "approve": "確認支付",
        "decline": "取消支付",
        "note": "這是測試環境，不會扣取真實款項。",
        SUCCESS: "這筆訂單已支付。",
        REFUND: "這筆訂單已退款。",
        CLOSED: "這筆訂單已關閉。",
        "back": "返回商戶",
        "missing": "找不到這筆訂單。",
    },
    "zh-Hans": {
        "title": "沙盒微信支付",
        "merchant": "商户",
        "amount": "金额",
        "order": "订单号",
        "approve": "确认支付",
        "decline": "取消支付",
        "note": "这是测试环境，不会扣取真实款项。",
        SUCCESS: "这笔订单已支付。",
        REFUND: "这笔订单已退款。",
        CLOSED: "这笔订单已关闭。",
        "back": "返回商户",
        "missing": "找不到这笔订单。",
    },
    "en": {
        "title": "Sandbox WeChat Pay",
        "merchant": "Merchant",
        "amount": "Amount",
        "order": "Order number",
        "approve": "Pay now",
        "decline": "Cancel payment",
        "note": "This is a test environment; no real money moves.",
        SUCCESS: "This order is paid.",
        REFUND: "This order was refunded.",
        CLOSED: "This order is closed.",
        "back": "Back to the merchant",
        "missing": "No such order.",
    },
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,'PingFang HK','Noto Sans CJK TC',sans-serif;margin:0;"
    "background:#ededed;color:#111}main{max-width:26rem;margin:2rem auto;padding:1.5rem;background:#fff;"
    "border-radius:.75rem;box-shadow:0 1px 4px #0002}h1{font-size:1.2rem;margin:0 0 1rem;color:#07c160}"
    "dl{display:grid;grid-template-columns:auto 1fr;gap:.5rem 1rem}dt{color:#666}"
    "dd{margin:0;word-break:break-all}"
    ".amount{font-size:1.6rem;font-weight:600}form{margin-top:1rem}"
    "button{width:100%;padding:.8rem;font-size:1rem;border:0;border-radius:.5rem;cursor:pointer}"
    ".ok{background:#07c160;color:#fff}.no{background:#f2f2f2;color:#111}"
    ".note{font-size:.85rem;color:#666}.notice{background:#fef3c7;padding:.5rem;border-radius:.4rem}"
)


def usable_redirect(url: str | None) -> str | None:
    """WeChat sends the payer back only to a web address; anything else is dropped."""
    if not url or len(url) > 2048:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def cashier_headers(redirect_url: str | None) -> dict[str, str]:
    return cashier_page.headers(_STYLE, redirect_url=redirect_url)


def _page(language: str, body: str) -> str:
    return cashier_page.page(language=language, title=_TEXT[language]["title"], style=_STYLE, body=body)


def missing_page(language: str) -> str:
    return _page(language, f"<p>{escape(_TEXT[language]['missing'])}</p>")


def cashier_page_html(row: SandboxWechatPayTransaction, language: str, *, redirect_url: str | None) -> str:
    text = _TEXT[language]
    amount = Money(row.amount, row.currency).format(language)
    parts = [
        f"<dl><dt>{escape(text['merchant'])}</dt><dd>crossbay sandbox</dd>"
        f'<dt>{escape(text["amount"])}</dt><dd class="amount">{escape(amount)}</dd>'
        f"<dt>{escape(text['order'])}</dt><dd>{escape(row.out_trade_no)}</dd>"
        f"<dt></dt><dd>{escape(row.description)}</dd></dl>"
    ]
    if row.trade_state != NOTPAY:
        parts.append(f'<p class="notice">{escape(text.get(row.trade_state, row.trade_state))}</p>')
        if redirect_url:
            parts.append(f'<p><a href="{escape(redirect_url)}">{escape(text["back"])}</a></p>')
        return _page(language, "".join(parts))
    query = f"?redirect_url={quote(redirect_url, safe='')}" if redirect_url else ""
    base = f"/sandbox/pay/wechatpay/{quote(row.out_trade_no, safe='')}"
    for action, style in (("approve", "ok"), ("decline", "no")):
        parts.append(
            f'<form method="post" action="{escape(f"{base}/{action}{query}")}">'
            f'<button class="{style}" type="submit">{escape(text[action])}</button></form>'
        )
    parts.append(f'<p class="note">{escape(text["note"])}</p>')
    return _page(language, "".join(parts))
