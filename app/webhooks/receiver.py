"""A small webhook receiver that verifies what it gets, as a subscriber would.

It backs ``recon demo`` (showing verified ``mismatch.opened`` events arriving), the integration
tests and ``bench/webhooks.py``. It is a bare ASGI app so that it stays out of the way of the
dispatcher's figures. Paths are independent subscribers: each may have a secret to verify with
and a scripted list of statuses (per message: the n-th attempt of a message gets the n-th).

python -m app.webhooks.receiver --port 8950     # GET /_received for counts
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    verified: bool | None  # None: no secret known for this path
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


class Receiver:
    """The ASGI app. Thread-safe: it runs on uvicorn's thread while tests read it."""

    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s  # a slow subscriber: the answer comes this long after the request
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}
        self._scripts: dict[str, list[int | tuple[int, dict[str, str]]]] = {}
        self._attempts: Counter[tuple[str, str]] = Counter()
        self.received: list[Received] = []
        self.on_receive: Callable[[Received], None] | None = None

    def expect(self, path: str, secret: str) -> None:
        """Verify deliveries to ``path`` with ``secret`` (401 when verification fails)."""
        with self._lock:
            self._secrets[path] = secret

    def script(self, path: str, statuses: Sequence[int | tuple[int, dict[str, str]]]) -> None:
        """Answer the n-th attempt of each message to ``path`` with ``statuses[n]`` (then 200);
        an entry may be ``(status, headers)``, e.g. ``(429, {"retry-after": "120"})``."""
        with self._lock:
            self._scripts[path] = list(statuses)

    def for_path(self, path: str) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.path == path]

    def accepted(self, path: str | None = None) -> list[Received]:
        """Deliveries answered 2xx (and verified, where a secret is known)."""
        with self._lock:
            return [
                item
                for item in self.received
                if 200 <= item.status < 300 and (path is None or item.path == path)
            ]

    def stats(self) -> dict[str, int]:
        with self._lock:
            accepted = [item for item in self.received if 200 <= item.status < 300]
            return {
                "received": len(self.received),
                "accepted": len(accepted),
                "unique_accepted": len({(item.path, item.webhook_id) for item in accepted}),
                "unverified": sum(1 for item in self.received if item.verified is False),
            }

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> Received:
        with self._lock:
            secret = self._secrets.get(path)
            key = (path, headers.get("webhook-id", ""))
            nth = self._attempts[key]
            self._attempts[key] += 1
            script = self._scripts.get(path, [])
        verified: bool | None = None
        answer = script[nth] if nth < len(script) else 200
        status, extra = answer if isinstance(answer, tuple) else (answer, {})
        if secret is not None:
            try:
                Webhook(secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified, status = False, 401
        item = Received(path, headers, body, status, verified, extra)
        with self._lock:
            self.received.append(item)
        if self.on_receive is not None:
            self.on_receive(item)
        return item

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["method"] == "GET" and scope["path"] == "/_received":
            await _respond(send, 200, json.dumps(self.stats()).encode())
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        item = self._answer(scope["path"], headers, b"".join(chunks))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        await _respond(send, item.status, b'{"received":true}', item.response_headers)


async def _respond(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A webhook receiver that counts deliveries.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8950)
    args = parser.parse_args(argv)
    uvicorn.run(Receiver(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
