-- The SMSC's id of each part of an SMS sent over SMPP (bot/gateways/smpp_gateway.py). Its delivery receipts name
-- these ids, not ours, and a long text goes as several parts, each with an id and a receipt of its own: the
-- message is delivered once every part of one send is, failed at the first part that fails.
CREATE TABLE sms_parts (
    gateway_id  TEXT PRIMARY KEY,  -- the SMSC's message_id from submit_sm_resp
    message_id  TEXT NOT NULL,     -- our sms_outbox id
    send_ref    TEXT NOT NULL,     -- one send of the message (a resend after a lost connection is another)
    parts       INTEGER NOT NULL,  -- how many parts that send had
    receipt     TEXT               -- NULL until this part's receipt: delivered / failed
);
CREATE INDEX sms_parts_send ON sms_parts (message_id, send_ref);
