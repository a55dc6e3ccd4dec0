-- Reads that run on the event loop must be bounded whatever a table's size (store/sqlite_engine.py, _plan_ok).
-- A chat's head check looked through every envelope the chat ever had, settled ones too, for an open one
-- older than the candidate: an index of the open envelopes alone makes it a probe of a handful of rows.
CREATE INDEX telegram_outbox_open_chat ON telegram_outbox (chat_id, id) WHERE status IN ('queued', 'sending');
-- The pending consents of a phone, oldest first, straight from the index (no sort).
CREATE INDEX consents_phone_pending ON consents (subject_phone, status, created_at);
