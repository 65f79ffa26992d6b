-- Schema v4: the domains provisioned through the admin API, shared by the nodes (each node keeps its
-- local store file as a copy and follows this table).
CREATE TABLE provisioned_domains (
    name       text PRIMARY KEY,
    settings   text NOT NULL,   -- the domain's [[domain]] table, in the config file's syntax
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
