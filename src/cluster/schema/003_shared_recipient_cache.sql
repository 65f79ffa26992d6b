-- Schema v3: the recipient-verification cache shared by the nodes (v1's table was never written).
-- One row per address key; nodes learn each other's changes by NOTIFY backupmx_recipients and read the
-- whole table when they (re)connect.
DROP TABLE recipient_cache;
CREATE TABLE recipient_cache (
    key        text PRIMARY KEY,
    verdict    text NOT NULL CHECK (verdict IN ('good', 'bad')),
    source     text NOT NULL,
    learned_by text NOT NULL,
    learned_ms bigint NOT NULL,
    expires_ms bigint NOT NULL
);
CREATE INDEX recipient_cache_expiry ON recipient_cache (expires_ms);
