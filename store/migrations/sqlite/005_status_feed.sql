-- Status events received from providers' systems (POST /api/v1/applications/events, `qyzmet import`) and
-- set by operators. The identity of an event is (number, status, at): the primary key makes "the same
-- event twice changes nothing" atomic, whoever delivers it and however often. `at` is UTC ISO 8601.
CREATE TABLE status_events (
    number       TEXT NOT NULL REFERENCES applications (number),
    status       TEXT NOT NULL,
    at           TEXT NOT NULL,
    source       TEXT NOT NULL,        -- 'feed', 'import', 'operator'
    received_at  TEXT NOT NULL,
    PRIMARY KEY (number, status, at)
);
