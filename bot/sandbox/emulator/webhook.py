"""setWebhook and the delivery of updates to the webhook, the way Telegram's Bot API server does it.

Why so faithful: what the bot's webhook route must get right — answering only after the update is handled,
403 without the secret, a retried update acted on once, one chat's updates kept in order — only shows when
updates arrive as Telegram sends them (tdlib/telegram-bot-api):

- each update is POSTed as JSON with ``X-Telegram-Bot-Api-Secret-Token``;
- updates wait in queues: one per chat for messages (and anything else with a chat), one per user for
  button presses (callback queries); a queue sends its next update only after the previous one got a 2xx;
- a non-2xx answer, a timeout or a refused connection leaves the update at the head of its queue, and it is
  posted again after ``webhook_retry_seconds``;
- at most ``max_connections`` requests are in flight at once (1–100, 40 by default);
- while a webhook is set, getUpdates answers 409 (``server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from typing import Any

import aiohttp

from .model import ApiError, JSONDict, Upload, WebhookAttempt
from .params import int_param, truthy
from .state import EmulatorState

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")

Queue = tuple[str, int]


def queue_of(update: JSONDict) -> Queue:
    """The queue an update waits in: its user's for a button press, else its chat's (else its own)."""
    press = update.get("callback_query")
    if isinstance(press, dict):
        return "user", int(press["from"]["id"])
    for kind, payload in update.items():
        if kind != "update_id" and isinstance(payload, dict):
            chat = payload.get("chat")
            if isinstance(chat, dict):
                return "chat", int(chat["id"])
    return "update", int(update["update_id"])


class WebhookSender(EmulatorState):
    """setWebhook, deleteWebhook, getWebhookInfo, and the task that posts pending updates to the webhook."""

    # --- Bot API methods ------------------------------------------------------------------

    async def _set_webhook(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        url = str(params.get("url") or "")
        if not url:  # Telegram: an empty url removes the webhook
            return await self._delete_webhook(params, files)
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = str(params.get("secret_token") or "")
        if secret and not _SECRET.fullmatch(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = int_param(params, "max_connections", 40)
        if not 1 <= max_connections <= 100:
            raise ApiError(400, "Bad Request: bad webhook: max_connections must be between 1 and 100")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = set(allowed) or None
        if truthy(params.get("drop_pending_updates")):
            self._pending.clear()
        self.webhook_url, self.webhook_secret, self.webhook_max_connections = url, secret, max_connections
        self._webhook_errors = None
        self._updates_signal.wake()  # a long poll still waiting ends (and the next one gets 409)
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._deliver_webhooks(), name="emulator-webhook")
        self._webhook_signal.wake()
        return True

    async def _delete_webhook(self, params: JSONDict, files: dict[str, Upload]) -> bool:
        self.webhook_url = self.webhook_secret = ""
        self._webhook_errors = None
        if truthy(params.get("drop_pending_updates")):
            self._pending.clear()
        return True

    async def _get_webhook_info(self, params: JSONDict, files: dict[str, Upload]) -> JSONDict:
        info: JSONDict = {"url": self.webhook_url, "has_custom_certificate": False,
                          "pending_update_count": len(self._pending)}
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
        if self._webhook_errors is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_errors
        return info

    # --- delivery -------------------------------------------------------------------------

    async def _deliver_webhooks(self) -> None:
        """Post the head of every queue that is free, as long as a webhook is set and connections are left."""
        loop = asyncio.get_running_loop()
        posts: set[asyncio.Task[None]] = set()
        try:
            while not self._closing:
                now, heads, next_retry = loop.time(), set(), None
                for update in self._pending:
                    if not self.webhook_url or len(self._in_flight) >= self.webhook_max_connections:
                        break
                    queue = queue_of(update)
                    if queue in heads:
                        continue  # waits behind an earlier update of its queue
                    heads.add(queue)
                    if queue in self._in_flight:
                        continue
                    due = self._retry_at.get(update["update_id"], now)
                    if due > now:
                        next_retry = due if next_retry is None else min(next_retry, due)
                        continue
                    self._in_flight[queue] = update["update_id"]
                    post = asyncio.create_task(self._post_update(queue, update))
                    posts.add(post)
                    post.add_done_callback(posts.discard)
                await self._webhook_signal.wait(1.0 if next_retry is None else max(next_retry - now, 0.001))
        finally:
            for post in list(posts):
                post.cancel()
            await asyncio.gather(*posts, return_exceptions=True)

    async def _run_carried_call(self, body: bytes) -> None:
        """A 2xx answer may carry one method call (``{"method": …, params…}``), which Telegram runs; its result
        goes nowhere, and an error in it is only counted."""
        try:
            call = json.loads(body) if body.strip() else None
        except ValueError:
            return
        if isinstance(call, dict) and isinstance(call.get("method"), str):
            params = {key: value for key, value in call.items() if key != "method"}
            await self.call_method(call["method"], params, carried=True)

    async def call_method(self, method: str, params: JSONDict, carried: bool = False) -> Any:
        """Run a Bot API method as the server does (BotApiServer)."""
        raise NotImplementedError

    async def _post_update(self, queue: Queue, update: JSONDict) -> None:
        url, update_id = self.webhook_url, update["update_id"]
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            headers[SECRET_HEADER] = self.webhook_secret
        status: int | None = None
        error: str | None = None
        body = b""
        try:
            if self._webhook_session is None:
                self._webhook_session = aiohttp.ClientSession()
            timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
            async with self._webhook_session.post(url, data=json.dumps(update), headers=headers,
                                                  timeout=timeout) as response:
                status = response.status
                body = await response.read()
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientError as exc:
            error = f"Connection failed: {type(exc).__name__}"
        finally:
            self._in_flight.pop(queue, None)
            self._webhook_signal.wake()
        self.webhook_attempts.append(WebhookAttempt(update_id, url, status, error))
        if error is None:
            await self._run_carried_call(body)
            self._retry_at.pop(update_id, None)
            self._pending = [u for u in self._pending if u["update_id"] != update_id]
        else:
            self._webhook_errors = (int(time.time()), error)
            self._retry_at[update_id] = asyncio.get_running_loop().time() + self.webhook_retry_seconds

    async def _stop_webhooks(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        session, self._webhook_session = self._webhook_session, None
        if session is not None:
            await session.close()

    # --- for tests ------------------------------------------------------------------------

    async def webhook_idle(self, timeout: float = 10.0) -> None:
        """Wait until every pending update has been posted and acknowledged (TimeoutError otherwise)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._pending or self._in_flight:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._pending)} updates not acknowledged by the webhook in {timeout}s")
            await self._webhook_signal.wait(min(remaining, 0.05))

    def webhook_statuses(self, update_id: int) -> list[int | None]:
        """What the webhook answered to each post of ``update_id``, in order (None: no answer came)."""
        return [a.status for a in self.webhook_attempts if a.update_id == update_id]
