"""Signing in to the console over real HTTP: cookie, CSRF, sign-out, revocation, expiry."""

from __future__ import annotations

import httpx

from tests.console.conftest import Province, sign_in


def test_a_page_without_a_session_sends_the_reader_to_sign_in(province: Province) -> None:
    with httpx.Client(base_url=province.base_url) as client:
        response = client.get("/console/agencies?level=tinh", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/console/agencies%3Flevel%3Dtinh"


def test_signing_in_sets_a_strict_cookie_and_lands_on_the_overview(province: Province) -> None:
    with httpx.Client(base_url=province.base_url) as client:
        response = sign_in(client, province.keys["reader"])
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        cookie = response.headers["set-cookie"]
        assert "recon_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Secure" not in cookie  # plain HTTP here; behind https it is set
        overview = client.get("/")
        assert overview.status_code == 200
        assert "Tổng quan tỉnh" in overview.text
        assert "default-src 'self'" in overview.headers["content-security-policy"]


def test_a_wrong_key_is_refused_on_the_form(province: Province) -> None:
    with httpx.Client(base_url=province.base_url) as client:
        response = sign_in(client, "rk_not_a_key")
        assert response.status_code == 401
        assert "Khoá API không hợp lệ" in response.text
        assert "recon_session" not in response.headers.get("set-cookie", "")
