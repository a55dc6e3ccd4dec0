-- Status events from providers' systems and operators. The identity of an event is (number, status, at): the
-- primary key makes "the same event twice changes nothing" atomic. `at` is stored to the second.
CREATE TABLE status_events (
    number       text NOT NULL REFERENCES applications (number),
    status       text NOT NULL,
    at           timestamptz NOT NULL,
    source       text NOT NULL,        -- 'feed', 'import', 'operator'
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (number, status, at)
);
