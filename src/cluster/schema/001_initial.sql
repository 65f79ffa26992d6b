-- Schema v1 of the shared queue (docs/cluster-design.md). Applied by `backupmx db migrate`.

CREATE TABLE nodes (
    name          text PRIMARY KEY,
    slot          smallint NOT NULL UNIQUE CHECK (slot BETWEEN 0 AND 63),
    process_token bigint NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    lease_ms      integer NOT NULL,
    version       text NOT NULL
);

-- Commit order = arrival order: each commit transaction takes its values here as its last statement,
-- and the row lock holds until COMMIT.
CREATE TABLE arrival (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last     bigint NOT NULL
);
INSERT INTO arrival (only_row, last) VALUES (true, 0);

CREATE TABLE messages (
    id          bigint PRIMARY KEY,
    arrival     bigint NOT NULL UNIQUE,
    accepted_by text NOT NULL,
    sender      text NOT NULL,
    envelope    bytea NOT NULL,
    size        bigint NOT NULL,
    held        boolean NOT NULL DEFAULT false,
    received_at timestamptz NOT NULL
);

CREATE TABLE recipients (
    message_id  bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    idx         smallint NOT NULL,
    address     text NOT NULL,   -- as received, for the cluster-wide views
    destination text NOT NULL,
    mailbox     text NOT NULL,
    status      smallint NOT NULL,
    reply       text,
    at_ms       bigint,
    PRIMARY KEY (message_id, idx)
);
CREATE INDEX recipients_pending ON recipients (destination, message_id) WHERE status = 0;

-- Attempts of one message may be added by the owners of two destinations at once: a serial key.
CREATE TABLE attempts (
    id         bigserial PRIMARY KEY,
    message_id bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    at_ms      bigint NOT NULL,
    host       text NOT NULL,
    result     text NOT NULL
);
CREATE INDEX attempts_message ON attempts (message_id);

-- Bodies in 256 KiB chunks, inserted while the session receives them; live once `messages` names them
-- (so no foreign key: the chunks come first). Removing a message removes its chunks in the same
-- transaction; chunks no message names are swept after an hour.
CREATE TABLE body_chunks (
    message_id bigint NOT NULL,
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, seq)
);

CREATE TABLE leases (
    destination text NOT NULL,
    shard       integer NOT NULL DEFAULT 0,
    node        text NOT NULL,
    epoch       bigint NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (destination, shard)
);

CREATE TABLE destinations (
    name     text PRIMARY KEY,
    health   text NOT NULL,
    since_ms bigint,
    error    text,
    up_at    timestamptz
);

CREATE TABLE audit (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    node   text NOT NULL,
    actor  text NOT NULL,
    action text NOT NULL,
    detail text NOT NULL
);

CREATE TABLE postmaster (
    id          bigint PRIMARY KEY,
    received_at timestamptz NOT NULL,
    size        bigint NOT NULL,
    body        bytea NOT NULL
);

CREATE TABLE recipient_cache (
    key        text PRIMARY KEY,
    verdict    text NOT NULL,
    reason     text NOT NULL,
    expires_at timestamptz NOT NULL
);
