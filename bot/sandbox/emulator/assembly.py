"""``BotApiEmulator``: the Bot API server, the user driver and the control API as one object.

Why one class: a test wants a single handle that the bot connects to (``base_url``) and that
also plays the users (``send_text``, ``press``, ``next_message``, ...); the parts live in
their own modules only so that each can be read on its own.
"""

from __future__ import annotations

from aiohttp import web

from .control import ControlApi
from .server import BotApiServer


class BotApiEmulator(ControlApi, BotApiServer):
    """Serves the Bot API subset on HTTP and plays the users. See the package docstring."""

    def _add_routes(self, app: web.Application) -> None:
        super()._add_routes(app)
        self._add_control_routes(app)
