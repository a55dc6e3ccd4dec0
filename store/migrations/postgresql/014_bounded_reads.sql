-- Reads bounded whatever a table's size (see the SQLite migration of the same number for the why).
CREATE INDEX telegram_outbox_open_chat ON telegram_outbox (chat_id, id) WHERE status IN ('queued', 'sending');
CREATE INDEX consents_phone_pending ON consents (subject_phone, status, created_at);
