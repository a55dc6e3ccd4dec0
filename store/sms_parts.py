"""The parts of SMS sent over SMPP, by the SMSC's id: what turns a delivery receipt into our message's state.

An SMSC answers each ``submit_sm`` with an id of its own, and its receipts name that id. A text of two parts
is two submits, two ids and two receipts; a message sent again after a lost connection is a new send with new
ids. So a row here is one part of one send, and the message is delivered when every part of one of its sends
is (``delivered_send``).
"""

from __future__ import annotations

from store.db import Database


class SmsPartRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, message_id: str, send_ref: str, gateway_ids: list[str]) -> None:
        """The ids the SMSC gave the parts of one send (an id it repeats keeps its first row)."""
        for gateway_id in gateway_ids:
            await self._db.write(
                "INSERT INTO sms_parts (gateway_id, message_id, send_ref, parts) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING", (gateway_id, message_id, send_ref, len(gateway_ids)))

    async def message_of(self, gateway_id: str) -> tuple[str, str] | None:
        """Our message id and the send a part's id belongs to; None for an id we never sent."""
        row = await self._db.fetchone("SELECT message_id, send_ref FROM sms_parts WHERE gateway_id = ?",
                                      (gateway_id,))
        return (str(row[0]), str(row[1])) if row else None

    async def set_receipt(self, gateway_id: str, status: str) -> None:
        """A part's receipt; a failed part stays failed (a later 'delivered' for it changes nothing)."""
        await self._db.write(
            "UPDATE sms_parts SET receipt = ? WHERE gateway_id = ? AND coalesce(receipt, '') != 'failed'",
            (status, gateway_id))

    async def delivered_send(self, message_id: str, send_ref: str) -> bool:
        """Every part of this send has a 'delivered' receipt."""
        row = await self._db.fetchone(
            "SELECT count(*), min(parts), sum(CASE WHEN receipt = 'delivered' THEN 1 ELSE 0 END) FROM "
            "(SELECT parts, receipt FROM sms_parts WHERE message_id = ? AND send_ref = ? LIMIT 255) AS p",
            (message_id, send_ref))  # a concatenated SMS has at most 255 parts
        return row is not None and row[0] > 0 and row[0] == row[1] == row[2]
