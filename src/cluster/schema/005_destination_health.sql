-- Schema v5: each destination's health as the node delivering it last saw it (up, down,
-- misconfigured), so every node's console shows it and a primary seen answering again by one node
-- makes every node probe its own unreachable destinations at once (NOTIFY backupmx_health).
CREATE TABLE destination_health (
    destination text PRIMARY KEY,
    state       text NOT NULL,     -- 'up', 'down' or 'misconfigured'
    since_ms    bigint,            -- down or misconfigured since (Unix ms)
    detail      text,              -- the last error, or the misconfiguration's reason
    node        text NOT NULL,     -- the node that saw it
    seen_at     timestamptz NOT NULL DEFAULT now()
);
