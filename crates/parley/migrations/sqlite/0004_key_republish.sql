-- A key published again (a user back in an earlier browser) becomes current again; the
-- first publication time is kept. Kept in step with ../postgres/0004_key_republish.sql.
ALTER TABLE public_keys ADD COLUMN last_published_at INTEGER NOT NULL DEFAULT 0;
UPDATE public_keys SET last_published_at = created_at;
