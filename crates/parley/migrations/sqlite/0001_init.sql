-- Facts about this installation (schema created, first start).
CREATE TABLE installation (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO installation (key, value) VALUES ('created_at', CAST(strftime('%s','now') AS TEXT));
