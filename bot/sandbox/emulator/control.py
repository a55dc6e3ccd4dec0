"""A small JSON control API under ``/_emu/`` for tools in another process.

Why HTTP: the load generator of ``bench/`` runs in its own process against a standalone
emulator (``python -m bot.sandbox.emulator``), so it cannot call the driver's methods; it
acts as users and reads bot actions through these routes instead.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from aiohttp import web

from .driver import UserDriver


class ControlApi(UserDriver):
    """``/_emu/send``, ``/_emu/messages``, ``/_emu/stats`` and ``/_emu/users``."""

    def _add_control_routes(self, app: web.Application) -> None:
        """Routes of the control API, added next to the Bot API's by ``BotApiEmulator``."""
        app.router.add_post("/_emu/send", self._control_send)
        app.router.add_get("/_emu/messages", self._control_messages)
        app.router.add_get("/_emu/stats", self._control_stats)
        app.router.add_post("/_emu/users", self._control_users)

    async def _control_send(self, request: web.Request) -> web.Response:
        """POST /_emu/send: act as a user; users are created on first use."""
        try:
            body = await request.json()
            user_id = int(body["user_id"])
            if user_id not in self._chats:
                self.add_user(user_id, str(body.get("first_name") or f"User{user_id}"),
                              language_code=body.get("language_code"))
            if "callback" in body:
                callback = body["callback"]
                update_id, query_id = self.press_button(user_id, int(callback["message_id"]), str(callback["data"]))
                return web.json_response({"update_id": update_id, "callback_query_id": query_id})
            if "contact" in body:
                contact = body["contact"]
                update_id = await self.send_contact(user_id, str(contact["phone_number"]),
                                                    contact_user_id=contact.get("user_id"),
                                                    first_name=contact.get("first_name"))
            else:
                update_id = await self.send_text(user_id, str(body["text"]))
        except (LookupError, ValueError, TypeError, RuntimeError) as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"update_id": update_id})

    async def _control_messages(self, request: web.Request) -> web.Response:
        """GET /_emu/messages?chat_id=&after=<seq>&timeout=<s>: long-poll bot actions."""
        chat_id = request.query.get("chat_id")
        after = int(request.query.get("after", 0))
        timeout = float(request.query.get("timeout", 0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [m.to_dict() for m in self._events[after:]
                     if chat_id is None or m.chat_id == int(chat_id)]
            remaining = deadline - loop.time()
            if found or remaining <= 0 or self._closing:
                return web.json_response({"messages": found, "last_seq": len(self._events)})
            await self._outbox_signal.wait(remaining)

    async def _control_users(self, request: web.Request) -> web.Response:
        """POST /_emu/users {"first": id, "count": n, "language_code": …}: many users at once (benchmarks)."""
        body = await request.json()
        first, count = int(body["first"]), int(body["count"])
        for user_id in range(first, first + count):
            if user_id not in self._chats:
                self.add_user(user_id, f"User{user_id}", language_code=body.get("language_code"))
        return web.json_response({"users": len(self._chats)})

    async def _control_stats(self, request: web.Request) -> web.Response:
        """The counters of ``stats``, and the webhook's: posts, how many were acknowledged (2xx) or not,
        updates posted more than once, updates still waiting or on the wire."""
        posts = len(self.webhook_attempts)
        acknowledged = sum(1 for a in self.webhook_attempts if a.ok)
        tries = Counter(a.update_id for a in self.webhook_attempts)
        webhook = {"posts": posts, "acknowledged": acknowledged, "refused": posts - acknowledged,
                   "retried_updates": sum(1 for n in tries.values() if n > 1), "pending": len(self._pending),
                   "in_flight": len(self._in_flight)}
        return web.json_response({**self.stats, "webhook": webhook})
