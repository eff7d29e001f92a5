"""Back-office staff for tests: an account made through the service, signed in over HTTP like a browser."""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pyotp

from crossbay.admin import staff as staff_service
from crossbay.db import transaction
from crossbay.runtime import Runtime
from tests.support import sensitive

PASSWORD = "correct horse battery staple 42"
_serial = itertools.count(int(time.time() * 1000) % 1_000_000)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def new_email(role: str) -> str:
    return f"{role}.{next(_serial)}@staff.crossbay.test"


@dataclass
class StaffAccountForTest:
    email: str
    role: str
    secret: str
    password: str = PASSWORD

    def code(self, at: datetime) -> str:
        code = pyotp.TOTP(self.secret).at(at)
        sensitive.register(code)
        return code


def make_staff(runtime: Runtime, role: str, email: str | None = None) -> StaffAccountForTest:
    with runtime.sessions() as session, transaction(session):
        created = staff_service.add_staff(
            session,
            email=email or new_email(role),
            role=role,
            password=PASSWORD,
            pii=runtime.pii,
            now=runtime.clock.now(),
        )
    sensitive.register(created.totp_secret, PASSWORD)
    return StaffAccountForTest(created.staff.email, role, created.totp_secret)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


@dataclass
class StaffClient:
    """A browser-like client: cookies kept, the CSRF token of its forms at hand."""

    http: httpx.Client
    account: StaffAccountForTest
    csrf: str = ""

    def __enter__(self) -> StaffClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(path, data={"csrf": self.csrf, **(data or {})})


def sign_in_form(http: httpx.Client) -> str:
    page = http.get("/admin/signin")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def sign_in_staff(base_url: str, runtime: Runtime, account: StaffAccountForTest) -> StaffClient:
    http = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False)
    csrf = sign_in_form(http)
    response = http.post(
        "/admin/signin",
        data={
            "csrf": csrf,
            "email": account.email,
            "password": account.password,
            "code": account.code(runtime.clock.now()),
        },
    )
    assert response.status_code == 303, response.text
    return StaffClient(http, account, csrf)
