"""The page skeleton and security policy every sandbox cashier shares; each brings its own look."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from urllib.parse import urlsplit


def page(*, language: str, title: str, style: str, body: str, banner: bool = False) -> str:
    """A self-contained page: no outside assets, one inline style (allowed by hash in ``headers``)."""
    heading = f"<header>{escape(title)}</header><main>" if banner else f"<main><h1>{escape(title)}</h1>"
    return (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body>{heading}{body}</main></body></html>"
    )


def headers(style: str, *, redirect_url: str | None = None) -> dict[str, str]:
    """The page is the provider's, not ours: its own policy, allowing exactly its one inline style.

    When the forms' answer redirects to the merchant, ``form-action`` must allow that origin too.
    """
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    targets = "'self'"
    if redirect_url:
        parts = urlsplit(redirect_url)
        targets += f" {parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{digest}'; form-action {targets}; "
        "frame-ancestors 'none'; base-uri 'none'",
        "Referrer-Policy": "no-referrer",
    }
