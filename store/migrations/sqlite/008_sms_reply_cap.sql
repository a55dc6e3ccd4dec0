-- Counting what was sent to one phone lately (the per-phone cap on replies to inbound SMS).
CREATE INDEX sms_outbox_phone ON sms_outbox (to_phone, created_at);
