-- The SMSC's id of each part of an SMS sent over SMPP (see the SQLite migration of the same number for the why).
CREATE TABLE sms_parts (
    gateway_id  text PRIMARY KEY,
    message_id  text NOT NULL,
    send_ref    text NOT NULL,
    parts       integer NOT NULL,
    receipt     text
);
CREATE INDEX sms_parts_send ON sms_parts (message_id, send_ref);
