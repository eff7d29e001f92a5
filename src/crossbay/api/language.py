from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from crossbay.i18n import negotiate_language


def request_language(
    request: Request, lang: Annotated[str | None, Query(include_in_schema=False)] = None
) -> str:
    return negotiate_language(request.headers.get("accept-language"), lang)


Language = Annotated[str, Depends(request_language)]
