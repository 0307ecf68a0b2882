"""Local webhook receivers for the tests: an aiohttp server on 127.0.0.1 that verifies the
signature (timestamp + body, with the receiver helper), counts calls per Idempotency-Key,
fails the first N calls, or hangs. They speak plain http, so the notifiers pointed at them
set ``allow_insecure=True``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from notifiers.adapters.webhook_signature import SIGNATURE_HEADER, SignatureError, verify

SECRET = b"test-secret"


@dataclass
class Receiver:
    fail_first: int = 0
    fail_status: int = 503
    retry_after: str | None = None
    hang: bool = False
    calls: int = 0
    delivered: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    bad_signatures: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        body = await request.read()
        try:
            verify(SECRET, request.headers.get(SIGNATURE_HEADER), body)
        except SignatureError:
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.hang:
            await self.release.wait()  # held until the test ends
            return web.Response(status=200)
        if self.calls <= self.fail_first:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.Response(status=self.fail_status, headers=headers)
        self.delivered.append(request.headers["Idempotency-Key"])
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        return web.json_response({"ok": True})


async def serve(receiver: Receiver) -> tuple[TestServer, str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, str(server.make_url("/hook"))


def payloads(receiver: Receiver) -> list[dict[str, Any]]:
    import json

    return [json.loads(b) for b in receiver.bodies]
