-- Schema v2: the audit log shared by the nodes records where an action came from, like the local one.
ALTER TABLE audit ADD COLUMN from_ip text NOT NULL DEFAULT '';
