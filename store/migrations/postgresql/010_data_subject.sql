-- The data subject's view reads when a third-party request's result was given: deliveries by application.
CREATE INDEX deliveries_number ON deliveries (number, delivered_at);

-- An SMS that names no language is answered in the language of the person whose registered phone wrote it.
CREATE INDEX citizens_phone ON citizens (phone);
