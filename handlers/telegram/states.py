"""The chat states of the core conversation, in one place (a feature names its own states next to its handlers
and registers them in routes.py).

MENU and TP_CODE are the ones the core itself changes: bot/core/conversation.py.
"""

from __future__ import annotations

from bot.core.conversation import AWAITING_CONSENT_CODE, MENU

__all__ = ["ID_CODE", "ID_CONTACT", "ID_IIN", "LANG", "MENU", "TP_CODE", "TP_IIN"]

LANG = "lang"
ID_CONTACT = "id_contact"
ID_IIN = "id_iin"
ID_CODE = "id_code"
TP_IIN = "tp_iin"
TP_CODE = AWAITING_CONSENT_CODE
