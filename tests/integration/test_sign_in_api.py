"""Sign-in over HTTP: OTP rules, tokens, passwords (API.md "Sign-in and account")."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, problem
from tests.support import sensitive
from tests.support.journey import new_phone, poll, sign_in


def request_code(http: httpx.Client, server: LiveServer, phone: str) -> tuple[str, str]:
    def messages() -> dict[str, Any]:
        answer: dict[str, Any] = http.get("/sandbox/sms/messages", params={"phone": phone}).json()
        return answer

    before = len(messages()["items"])
    response = http.post("/api/v1/auth/otp", json={"phone": phone})
    assert response.status_code == 202, response.text
    server.run_jobs()
    # Wait for this code's message: the background worker may be the one sending it, and an earlier
    # code for the phone is already there.
    body = poll(messages, lambda b: len(b["items"]) > before)
    code = re.search(r"\b(\d{6})\b", body["items"][0]["body"]).group(1)
    sensitive.register(code)
    return response.json()["challenge_id"], code


class TestOtp:
    def test_first_sign_in_registers_and_second_does_not(
        self, http: httpx.Client, server: LiveServer
    ) -> None:
        phone = new_phone()
        challenge, code = request_code(http, server, phone)
        first = http.post(
            "/api/v1/auth/token", json={"phone": phone, "challenge_id": challenge, "code": code}
        )
        assert first.status_code == 200
        assert first.json()["new_customer"] is True and first.json()["token_type"] == "Bearer"
        me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {first.json()['access_token']}"})
        assert me.status_code == 200
        assert me.json()["phone_masked"].startswith("+852 6") and phone[-8:] not in me.json()["phone_masked"]
        assert me.json()["identity"]["status"] == "none"
        assert me.json()["wallet"]["balance"] == {"amount": 0, "currency": "HKD", "formatted": "HK$0.00"}

    def test_a_code_works_once(self, http: httpx.Client, server: LiveServer) -> None:
        phone = new_phone()
        challenge, code = request_code(http, server, phone)
        body = {"phone": phone, "challenge_id": challenge, "code": code}
        assert http.post("/api/v1/auth/token", json=body).status_code == 200
        again = http.post("/api/v1/auth/token", json=body)
        assert again.status_code == 401 and problem(again)["code"] == "invalid_code"

    def test_five_wrong_codes_kill_the_challenge_even_for_the_right_code(
        self, http: httpx.Client, server: LiveServer
    ) -> None:
        phone = new_phone()
        challenge, code = request_code(http, server, phone)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for _ in range(5):
            refused = http.post(
                "/api/v1/auth/token", json={"phone": phone, "challenge_id": challenge, "code": wrong}
            )
            assert refused.status_code == 401 and problem(refused)["code"] == "invalid_code"
        right = http.post(
            "/api/v1/auth/token", json={"phone": phone, "challenge_id": challenge, "code": code}
        )
        assert right.status_code == 429 and problem(right)["code"] == "too_many_attempts"

    def test_resend_too_soon_says_when(self, http: httpx.Client, server: LiveServer) -> None:
        phone = new_phone()
        request_code(http, server, phone)
        again = http.post("/api/v1/auth/otp", json={"phone": phone})
        assert again.status_code == 429 and problem(again)["code"] == "otp_resend_too_soon"
        assert 1 <= int(again.headers["Retry-After"]) <= 60

    @pytest.mark.parametrize("phone", ["+14155552671", "12345", "+44 20 7946 0958", "not a phone"])
    def test_other_numbers_are_refused(self, http: httpx.Client, phone: str) -> None:
        refused = http.post("/api/v1/auth/otp", json={"phone": phone})
        assert refused.status_code == 422 and problem(refused)["code"] == "invalid_phone_number"

    def test_local_hong_kong_number_is_normalized(self, http: httpx.Client, server: LiveServer) -> None:
        local = new_phone()[4:]
        assert http.post("/api/v1/auth/otp", json={"phone": local}).status_code == 202
        server.run_jobs()
        assert poll(
            lambda: http.get("/sandbox/sms/messages", params={"phone": "+852" + local}).json()["items"], bool
        )


class TestTokens:
    def test_refresh_rotates_and_logout_ends_the_session(
        self, http: httpx.Client, server: LiveServer
    ) -> None:
        phone = new_phone()
        challenge, code = request_code(http, server, phone)
        tokens = http.post(
            "/api/v1/auth/token", json={"phone": phone, "challenge_id": challenge, "code": code}
        ).json()
        sensitive.register(tokens["access_token"], tokens["refresh_token"])
        rotated = http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert rotated.status_code == 200
        new = rotated.json()
        sensitive.register(new["access_token"], new["refresh_token"])
        reused = http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert reused.status_code == 401
        # Reusing a rotated refresh token is theft: the whole family is revoked.
        assert (
            http.get("/api/v1/me", headers={"Authorization": f"Bearer {new['access_token']}"}).status_code
            == 401
        )

    def test_logout(self, http: httpx.Client, server: LiveServer) -> None:
        customer = sign_in([http])
        assert customer.post("/api/v1/auth/logout").status_code == 204
        assert customer.get("/api/v1/me").status_code == 401

    @pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc"])
    def test_missing_or_bad_token_is_401(self, http: httpx.Client, header: str | None) -> None:
        headers = {"Authorization": header} if header else {}
        response = http.get("/api/v1/me", headers=headers)
        assert response.status_code == 401 and problem(response)["code"] == "unauthenticated"


class TestPassword:
    def test_set_and_sign_in_with_password_and_lockout(self, http: httpx.Client, server: LiveServer) -> None:
        customer = sign_in([http])
        weak = http.put("/api/v1/me/password", json={"new_password": "password1"}, headers=customer.auth())
        assert weak.status_code == 422 and problem(weak)["code"] == "weak_password"
        assert (
            http.put(
                "/api/v1/me/password", json={"new_password": "harbour-lantern-92"}, headers=customer.auth()
            ).status_code
            == 204
        )
        good = http.post(
            "/api/v1/auth/token", json={"phone": customer.phone, "password": "harbour-lantern-92"}
        )
        assert good.status_code == 200
        sensitive.register(good.json()["access_token"], good.json()["refresh_token"])
        for _ in range(5):
            bad = http.post(
                "/api/v1/auth/token", json={"phone": customer.phone, "password": "wrong-password-x"}
            )
            assert bad.status_code == 401 and problem(bad)["code"] == "invalid_credentials"
        locked = http.post(
            "/api/v1/auth/token", json={"phone": customer.phone, "password": "harbour-lantern-92"}
        )
        assert locked.status_code == 429 and problem(locked)["code"] == "too_many_attempts"
        # OTP still works while the password is locked.
        server.runtime.clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
        challenge, code = request_code(http, server, customer.phone)
        assert (
            http.post(
                "/api/v1/auth/token", json={"phone": customer.phone, "challenge_id": challenge, "code": code}
            ).status_code
            == 200
        )

    def test_unknown_phone_gets_the_same_answer(self, http: httpx.Client) -> None:
        unknown = http.post("/api/v1/auth/token", json={"phone": new_phone(), "password": "whatever-it-is-9"})
        assert unknown.status_code == 401 and problem(unknown)["code"] == "invalid_credentials"


class TestErrors:
    def test_malformed_json_is_400(self, http: httpx.Client) -> None:
        response = http.post(
            "/api/v1/auth/otp", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert response.status_code == 400 and problem(response)["code"] == "malformed_request"

    def test_wrong_type_is_422_with_field(self, http: httpx.Client) -> None:
        response = http.post("/api/v1/auth/otp", json={"phone": 12345})
        body = problem(response)
        assert response.status_code == 422 and body["code"] == "validation_failed"
        assert body["errors"][0]["field"] == "phone"

    def test_titles_follow_the_language(self, http: httpx.Client) -> None:
        english = problem(http.get("/api/v1/me", headers={"Accept-Language": "en"}))
        chinese = problem(http.get("/api/v1/me", headers={"Accept-Language": "zh-HK"}))
        assert english["title"] == "Please sign in"
        assert chinese["title"] != english["title"]

    def test_unknown_path_is_problem_404(self, http: httpx.Client) -> None:
        response = http.get("/api/v1/nothing-here")
        assert response.status_code == 404 and problem(response)["code"] == "not_found"
