-- The certificate leaves the chat: share links, revocation, and how each check was made (see the SQLite
-- migration of the same number for the why of each column). Still no medical status.
ALTER TABLE certificates ADD COLUMN revoked_at timestamptz;

CREATE TABLE certificate_shares (
    id           text PRIMARY KEY,
    number       text NOT NULL REFERENCES certificates (number),
    holder_iin   text NOT NULL,
    secret_hash  text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX certificate_shares_holder ON certificate_shares (holder_iin, created_at);

ALTER TABLE certificate_checks ADD COLUMN via text;
ALTER TABLE certificate_checks ADD COLUMN share_id text;
CREATE INDEX certificate_checks_share ON certificate_checks (share_id, at);
