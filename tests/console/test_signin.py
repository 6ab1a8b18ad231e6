"""Signing in to the console over real HTTP: cookie, CSRF, sign-out, revocation, expiry."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from typing import Any

import httpx
from fastapi.routing import APIRoute

from app.console import PAGE_MODULES
from app.console.security import is_console_path
from tests.console.conftest import Province, csrf_of, sign_in


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


def _console_forms() -> list[str]:
    """Every path the console accepts a POST on, with its parameters filled in."""
    paths = []
    routes = [route for module in PAGE_MODULES for route in module.router.routes]
    assert routes
    for route in routes:
        if (
            isinstance(route, APIRoute)
            and "POST" in route.methods
            and is_console_path(route.path)
            and route.path != "/login"
        ):
            paths.append(re.sub(r"\{[^}]+\}", "1", route.path))
    return sorted(paths)


def test_every_console_form_refuses_a_post_without_its_csrf_token(
    province: Province, signed_in: Any
) -> None:
    forms = _console_forms()
    # The sign-out, the language switch, starting a run, redelivering and recovering at least.
    assert {"/logout", "/console/language", "/console/runs"} <= set(forms)
    assert len(forms) >= 5, forms
    client = signed_in("admin")
    for path in forms:
        without = client.post(path, data={}, follow_redirects=False)
        assert without.status_code == 403, (path, without.status_code)
        wrong = client.post(path, data={"csrf_token": "not-it"}, follow_redirects=False)
        assert wrong.status_code == 403, (path, wrong.status_code)
    # Still signed in: none of those did anything.
    assert client.get("/", follow_redirects=False).status_code == 200


def test_the_sign_in_form_needs_its_own_token(province: Province) -> None:
    with httpx.Client(base_url=province.base_url) as client:
        response = client.post(
            "/login", data={"api_key": province.keys["reader"]}, follow_redirects=False
        )
        assert response.status_code == 403
        assert "recon_session" not in response.headers.get("set-cookie", "")


def test_sign_out_ends_the_session_for_good(province: Province, signed_in: Any) -> None:
    client = signed_in("reader")
    token = client.cookies["recon_session"]
    page = client.get("/")
    response = client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    with httpx.Client(base_url=province.base_url, cookies={"recon_session": token}) as replay:
        assert replay.get("/", follow_redirects=False).status_code == 303


def test_a_revoked_key_signs_its_browsers_out_at_once(province: Province) -> None:
    created = province.api.post("/keys", json={"name": "soon revoked", "role": "reader"}).json()
    with httpx.Client(base_url=province.base_url) as client:
        assert sign_in(client, created["key"]).status_code == 303
        assert client.get("/", follow_redirects=False).status_code == 200
        assert province.api.delete(f"/keys/{created['id']}").status_code == 204
        again = client.get("/", follow_redirects=False)
        assert again.status_code == 303
        assert again.headers["location"] == "/login?next=/&expired=1"


def test_an_expired_session_asks_for_the_key_again(province: Province, signed_in: Any) -> None:
    client = signed_in("reader")
    assert client.get("/", follow_redirects=False).status_code == 200
    token_hash = hashlib.sha256(client.cookies["recon_session"].encode()).hexdigest()
    path = province.database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        # Its end moved back to its start: a session that outlived CONSOLE_SESSION_HOURS.
        changed = db.execute(
            "UPDATE console_sessions SET expires_at = created_at WHERE token_hash = ?",
            (token_hash,),
        )
        assert changed.rowcount == 1
    expired = client.get("/", follow_redirects=False)
    assert expired.status_code == 303
    assert expired.headers["location"].endswith("&expired=1")
    login = client.get(expired.headers["location"])
    assert "Phiên đăng nhập đã hết hạn" in login.text


def test_after_sign_in_the_reader_returns_to_the_page_asked_for_and_never_elsewhere(
    province: Province,
) -> None:
    with httpx.Client(base_url=province.base_url) as client:
        response = sign_in(client, province.keys["reader"], "/console/agencies?level=xa")
        assert response.headers["location"] == "/console/agencies?level=xa"
    with httpx.Client(base_url=province.base_url) as client:
        response = sign_in(client, province.keys["reader"], "//evil.example/")
        assert response.headers["location"] == "/"


def test_behind_a_tls_proxy_the_cookies_are_secure(province: Province) -> None:
    """uvicorn trusts X-Forwarded-Proto from its own host (a proxy beside it), as deployed."""
    forwarded = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=province.base_url, headers=forwarded) as client:
        form = client.get("/login")
        assert "Secure" in form.headers["set-cookie"]
        # The client speaks plain HTTP to the proxy's side: it sends the cookie by hand.
        login_token = form.cookies["recon_login_csrf"]
        response = client.post(
            "/login",
            data={"api_key": province.keys["reader"], "csrf_token": csrf_of(form.text)},
            headers={"Cookie": f"recon_login_csrf={login_token}"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "recon_session=" in cookie
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
