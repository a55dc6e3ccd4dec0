-- The data subject's view ("requests about me", bot/core/subject_requests.py) reads, for each third-party
-- request about an IIN, when its result was given to the requester: deliveries are looked up by application.
CREATE INDEX deliveries_number ON deliveries (number, delivered_at);

-- An SMS that names no language (a bare application number, a bare consent code) is answered in the language
-- of the person whose registered phone wrote it (their Telegram language): citizens are looked up by phone.
CREATE INDEX citizens_phone ON citizens (phone);
