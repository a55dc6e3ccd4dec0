-- Status notices reach the last Telegram user who verified an IIN, after their identity has lapsed (the link
-- stays until another account verifies the IIN).
CREATE TABLE telegram_links (
    iin        text PRIMARY KEY,
    user_id    bigint NOT NULL,
    linked_at  timestamptz NOT NULL
);
CREATE INDEX telegram_links_user ON telegram_links (user_id);

-- users.subscribed = operators' broadcasts; status_notices = notices about one's own applications/complaints.
ALTER TABLE users ADD COLUMN status_notices integer NOT NULL DEFAULT 1;
-- Telegram answered 403 (blocked or deactivated): no more messages until the person writes again.
ALTER TABLE users ADD COLUMN blocked_at timestamptz;
