"""What a Telegram update writes last, together (handlers/telegram/turn.py): the mark that it was handled, where
the person's conversation now stands, and the envelope of its replies.

On PostgreSQL the three are one statement (inserts in a WITH), so a turn that changed nothing else is one round
trip in autocommit, instead of BEGIN, three writes and COMMIT, and one that did saves two. The conversation's
state and the envelope are written only if the mark is (``SELECT … FROM marked``): when another attempt at the
same update (another replica) marked it first, the statement writes nothing. On SQLite, whose bounded statements
cost no round trip, they are the three statements of their repositories, in a unit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.db import Database, utc_iso
from store.telegram_outbox import TelegramOutboxRepository
from store.telegram_updates import HandledUpdateRepository
from store.users import UserRepository


@dataclass(frozen=True)
class StateWrite:
    """Where a person's conversation stands at the end of the update."""
    user_id: int
    state: str
    data: dict[str, Any]


@dataclass(frozen=True)
class EnvelopeWrite:
    """The replies of the update, claimed by the process that delivers them right after the commit."""
    chat_id: int
    kind: str
    payload: dict[str, Any]
    lease_until: float


class TurnCloseRepository:
    def __init__(self, db: Database, updates: HandledUpdateRepository, users: UserRepository,
                 outbox: TelegramOutboxRepository) -> None:
        self._db = db
        self._updates = updates
        self._users = users
        self._outbox = outbox

    @property
    def one_statement(self) -> bool:
        """Whether ``close`` is one statement (it may then be a unit's only write, in autocommit)."""
        return self._db.engine == "postgresql"

    async def close(self, update_id: int | None, now: datetime, state: StateWrite | None,
                    envelope: EnvelopeWrite | None) -> tuple[bool, int | None]:
        """Write them in the current unit: (False, None) if the update was marked handled already (nothing is
        written then), else (True, the envelope's id or None)."""
        if not self.one_statement:
            if update_id is not None and not await self._updates.mark(update_id, now):
                return False, None
            if state is not None:
                await self._users.set_state(state.user_id, state.state, state.data, now)
            if envelope is None:
                return True, None
            return True, await self._outbox.add(envelope.chat_id, envelope.kind, envelope.payload, now,
                                                lease_until=envelope.lease_until)
        parts: list[str] = []
        params: list[Any] = []
        when = utc_iso(now)
        only_if_marked = ""
        if update_id is not None:
            parts.append("marked AS (INSERT INTO telegram_updates (update_id, handled_at) VALUES (?, ?) "
                         "ON CONFLICT DO NOTHING RETURNING 1)")
            params += [update_id, when]
            only_if_marked = " FROM marked"
        if state is not None:
            parts.append("state AS (INSERT INTO chat_states (user_id, state, data, updated_at) "
                         "SELECT CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TIMESTAMPTZ)"
                         f"{only_if_marked} ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, "
                         "data = excluded.data, updated_at = excluded.updated_at)")
            params += [state.user_id, state.state, json.dumps(state.data or {}, ensure_ascii=False), when]
        if envelope is not None:
            parts.append("envelope AS (INSERT INTO telegram_outbox (chat_id, kind, payload, status, lease_until, "
                         "created_at) SELECT CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), 'sending', "
                         f"CAST(? AS DOUBLE PRECISION), CAST(? AS TIMESTAMPTZ){only_if_marked} RETURNING id)")
            params += [envelope.chat_id, envelope.kind, json.dumps(envelope.payload, ensure_ascii=False),
                       envelope.lease_until, when]
        if not parts:
            return True, None
        marked = "(SELECT count(*) FROM marked)" if update_id is not None else "1"
        envelope_id = "(SELECT id FROM envelope)" if envelope is not None else "NULL"
        rows = await self._db.write(f"WITH {', '.join(parts)} SELECT {marked}, {envelope_id}", params)
        if not rows[0][0]:
            return False, None
        return True, None if rows[0][1] is None else int(rows[0][1])
