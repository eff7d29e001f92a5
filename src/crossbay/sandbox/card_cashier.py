"""The sandbox card provider's cashier page: what a payer sees at the provider, in three languages."""

from __future__ import annotations

from html import escape

from crossbay.money import Money
from crossbay.sandbox import cashier_page
from crossbay.sandbox.card_models import SandboxCardIntent

TEST_CARD = "4242 4242 4242 4242"
FINAL_STATES = frozenset({"succeeded", "canceled"})

_TEXT: dict[str, dict[str, str]] = {
    "zh-Hant": {
        "title": "沙盒信用卡付款",
        "merchant": "商戶",
        "amount": "金額",
        "card": "卡號",
        "expiry": "有效期",
        "cvc": "安全碼",
        "approve": "批准付款",
        "decline": "拒絕付款",
        "note": "這是測試環境，不會扣取真實款項。",
        "succeeded": "這筆付款已完成。",
        "canceled": "這筆付款已取消。",
        "declined": "上次付款被拒絕，可以再試一次。",
        "back": "返回商戶",
        "missing": "找不到這筆付款。",
    },
    "zh-Hans": {
        "title": "沙盒银行卡付款",
        "merchant": "商户",
        "amount": "金额",
        "card": "卡号",
        "expiry": "有效期",
        "cvc": "安全码",
        "approve": "批准付款",
        "decline": "拒绝付款",
        "note": "这是测试环境，不会扣取真实款项。",
        "succeeded": "这笔付款已完成。",
        "canceled": "这笔付款已取消。",
        "declined": "上次付款被拒绝，可以再试一次。",
        "back": "返回商户",
        "missing": "找不到这笔付款。",
    },
    "en": {
        "title": "Sandbox card payment",
        "merchant": "Merchant",
        "amount": "Amount",
        "card": "Card number",
        "expiry": "Expiry",
        "cvc": "CVC",
        "approve": "Approve payment",
        "decline": "Decline payment",
        "note": "This is a test environment; no real money moves.",
        "succeeded": "This payment is complete.",
        "canceled": "This payment was cancelled.",
        "declined": "The last attempt was declined; you can try again.",
        "back": "Back to the merchant",
        "missing": "No such payment.",
    },
}

_STYLE = (
    "body{font-family:system-ui,-apple-system,'PingFang HK','Noto Sans CJK TC',sans-serif;margin:0;"
    "background:#f3f4f6;color:#111827}main{max-width:26rem;margin:2rem auto;padding:1.5rem;background:#fff;"
    "border-radius:.75rem;box-shadow:0 1px 4px #0002}h1{font-size:1.25rem;margin:0 0 1rem}"
    "dl{display:grid;grid-template-columns:auto 1fr;gap:.5rem 1rem}dt{color:#6b7280}dd{margin:0}"
    ".amount{font-size:1.5rem;font-weight:600}label{display:block;margin:.75rem 0 .25rem;color:#6b7280}"
    "input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #d1d5db;"
    "border-radius:.4rem}.row{display:flex;gap:.75rem}.row>div{flex:1}form{margin-top:1rem}"
    "button{width:100%;padding:.8rem;font-size:1rem;border:0;border-radius:.5rem;cursor:pointer}"
    ".ok{background:#2563eb;color:#fff}.no{background:#e5e7eb;color:#111827}"
    ".note{font-size:.85rem;color:#6b7280}.notice{background:#fef3c7;padding:.5rem;border-radius:.4rem}"
)


def _page(language: str, body: str) -> str:
    return cashier_page.page(language=language, title=_TEXT[language]["title"], style=_STYLE, body=body)


def cashier_page_html(intent: SandboxCardIntent, language: str) -> str:
    return _page(language, _cashier_body(intent, language))


def missing_page(language: str) -> str:
    return _page(language, f"<p>{escape(_TEXT[language]['missing'])}</p>")


def _cashier_body(intent: SandboxCardIntent, language: str) -> str:
    text = _TEXT[language]
    amount = Money(intent.amount, intent.currency.upper()).format(language)
    parts = [
        f"<dl><dt>{escape(text['merchant'])}</dt><dd>crossbay sandbox</dd>"
        f'<dt>{escape(text["amount"])}</dt><dd class="amount">{escape(amount)}</dd>',
        f"<dt></dt><dd>{escape(intent.description)}</dd>" if intent.description else "",
        "</dl>",
    ]
    if intent.status in FINAL_STATES:
        parts.append(f'<p class="notice">{escape(text[intent.status])}</p>')
        if intent.return_url and intent.return_url.startswith(("https://", "http://")):
            parts.append(f'<p><a href="{escape(intent.return_url)}">{escape(text["back"])}</a></p>')
        return "".join(parts)
    if intent.last_payment_error:
        parts.append(f'<p class="notice">{escape(text["declined"])}</p>')
    base = f"/sandbox/pay/card/{escape(intent.id)}"
    parts.append(
        f'<label for="card">{escape(text["card"])}</label>'
        f'<input id="card" value="{TEST_CARD}" inputmode="numeric" autocomplete="off" readonly>'
        f'<div class="row"><div><label for="exp">{escape(text["expiry"])}</label>'
        '<input id="exp" value="12/34" readonly></div>'
        f'<div><label for="cvc">{escape(text["cvc"])}</label>'
        '<input id="cvc" value="123" readonly></div></div>'
        f'<form method="post" action="{base}/approve"><button class="ok" type="submit">'
        f"{escape(text['approve'])}</button></form>"
        f'<form method="post" action="{base}/decline"><button class="no" type="submit">'
        f"{escape(text['decline'])}</button></form>"
        f'<p class="note">{escape(text["note"])}</p>'
    )
    return "".join(parts)


CASHIER_HEADERS = cashier_page.headers(_STYLE)
