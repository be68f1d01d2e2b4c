"""A graphql-transport-ws client for the tests (the `websockets` package): it answers the server's
pings as graphql-ws clients do, unless told not to."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

PROTOCOL = "graphql-transport-ws"


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/graphql"


class LiveClient:
    """One connection; a reader task answers pings at once (as graphql-ws clients do) unless
    ``answer_pings`` is false, and queues every other message."""

    def __init__(self, ws: ClientConnection, answer_pings: bool = True) -> None:
        self.ws = ws
        self.answer_pings = answer_pings
        self.pings = 0
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls, server_url: str, *, offer: tuple[str, ...] = (PROTOCOL,), answer_pings: bool = True
    ) -> LiveClient:
        """Connected; ``offer`` are the subprotocols asked for (none: no header)."""
        ws = await websockets.connect(
            ws_url(server_url),
            subprotocols=[websockets.Subprotocol(p) for p in offer] or None,
            max_size=None,
            open_timeout=10,
        )
        return cls(ws, answer_pings)

    @classmethod
    async def start(cls, server_url: str, token: str | None = None, **payload: Any) -> LiveClient:
        """Connected and acknowledged (with ``Authorization: Bearer <token>`` when given)."""
        client = await cls.connect(server_url)
        if token is not None:
            payload = {"Authorization": f"Bearer {token}", **payload}
        await client.send({"type": "connection_init", "payload": payload})
        ack = await client.message()
        assert ack == {"type": "connection_ack"}, ack
        return client

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message: dict[str, Any] = orjson.loads(raw)
                if message.get("type") == "ping":
                    self.pings += 1
                    if self.answer_pings:
                        await self.send({"type": "pong"})
                    continue
                self._queue.put_nowait(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._queue.put_nowait(None)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        await self.send({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}})

    async def message(self, wait: float = 15) -> dict[str, Any]:
        """The next message other than a ping; ``ConnectionError`` once the connection is closed."""
        message = await asyncio.wait_for(self._queue.get(), wait)
        if message is None:
            self._queue.put_nowait(None)
            raise ConnectionError("closed")
        return message

    async def next(self, op_id: str, wait: float = 15) -> dict[str, Any]:
        """The data of the next ``next`` message, which must be for ``op_id``."""
        message = await self.message(wait)
        assert message.get("type") == "next" and message.get("id") == op_id, message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def next_for(self, op_id: str, wait: float = 15) -> dict[str, Any]:
        """The data of the next ``next`` message for ``op_id``, passing over other operations' ``next``
        messages (a subscription's state is sent again when the process's listener (re)connects)."""
        while True:
            message = await self.message(wait)
            assert message.get("type") == "next", message
            if message.get("id") != op_id:
                continue
            assert "errors" not in message["payload"], message
            data: dict[str, Any] = message["payload"]["data"]
            return data

    async def nexts(self, count: int, wait: float = 15) -> dict[str, dict[str, Any]]:
        """The data of the next ``count`` messages (all ``next``, for different operations) by id."""
        found: dict[str, dict[str, Any]] = {}
        for _ in range(count):
            message = await self.message(wait)
            assert message.get("type") == "next" and message["id"] not in found, message
            found[message["id"]] = message["payload"]["data"]
        return found

    async def error(self, op_id: str, wait: float = 15) -> list[dict[str, Any]]:
        """The payload of the ``error`` message for ``op_id`` (other operations' ``next`` passed over)."""
        message = await self.message(wait)
        while message.get("type") == "next" and message.get("id") != op_id:
            message = await self.message(wait)
        assert message.get("type") == "error" and message.get("id") == op_id, message
        errors: list[dict[str, Any]] = message["payload"]
        return errors

    async def closed(self, wait: float = 15) -> tuple[int | None, str]:
        """How the server closed the connection (code, reason); messages until then are dropped."""
        await asyncio.wait_for(asyncio.shield(self._reader), wait)
        return self.ws.close_code, self.ws.close_reason or ""

    async def close(self) -> None:
        await self.ws.close()
        await self._reader
