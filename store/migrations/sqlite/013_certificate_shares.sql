-- The certificate leaves the chat (README, "Certificates"): its holder shares it by link, a certificate can be
-- revoked, and every check and opening says how it was made. Still no medical status: a share page renders
-- the certificate from the registry when it is opened, as a delivery does.

-- A certificate withdrawn by the issuer (`qyzmet certificates revoke`): every check then says so.
ALTER TABLE certificates ADD COLUMN revoked_at TEXT;

-- Share links a holder made. The link is /s/<id>.<secret>; only a keyed hash of the secret is kept, so the
-- table alone opens nothing. A link works until expires_at (at most the certificate's validity) unless revoked.
CREATE TABLE certificate_shares (
    id           TEXT PRIMARY KEY,
    number       TEXT NOT NULL REFERENCES certificates (number),
    holder_iin   TEXT NOT NULL,     -- who made it: the person the certificate is about, or its requester
    secret_hash  TEXT NOT NULL,     -- keyed hash of the link's secret part
    created_at   TEXT NOT NULL,     -- ISO UTC
    expires_at   TEXT NOT NULL,     -- ISO UTC
    revoked_at   TEXT               -- ISO UTC: the holder withdrew it
);
CREATE INDEX certificate_shares_holder ON certificate_shares (holder_iin, created_at);

-- How a check was made: by number and code ('code'), by the signed payload of the QR ('seal'), or by opening
-- a share link ('link', with its share).
ALTER TABLE certificate_checks ADD COLUMN via TEXT;
ALTER TABLE certificate_checks ADD COLUMN share_id TEXT;
CREATE INDEX certificate_checks_share ON certificate_checks (share_id, at);
