-- One time encoding for every leased queue (store/leased_queue.py): the next attempt and the lease's end are unix
-- epoch seconds (double precision), as in the Telegram and SMS outboxes, instead of moments. Each row keeps its
-- moments.
ALTER TABLE registry_questions
    ALTER COLUMN next_attempt_at TYPE double precision USING extract(epoch FROM next_attempt_at),
    ALTER COLUMN lease_until TYPE double precision USING extract(epoch FROM lease_until);
ALTER TABLE state_outbox
    ALTER COLUMN next_attempt_at TYPE double precision USING extract(epoch FROM next_attempt_at),
    ALTER COLUMN lease_until TYPE double precision USING extract(epoch FROM lease_until);
