-- Issue 9 (auth side). Kept in step with ../sqlite/0006_auth_hardening.sql.

-- Item 4: the confusable skeleton (Unicode TS #39) of each username. Unique, so two names
-- that look alike cannot both exist even when registered at the same moment on two instances.
-- Existing rows are filled in by the server at start-up (SQL cannot compute a skeleton).
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users(username_skeleton);

-- Item 1: wrong codes while confirming a new authenticator are counted (before checking).
ALTER TABLE totp_enrolments ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;

-- Item 5: the password throttle is kept per *name* (the lower-cased username), whether or not
-- an account of that name exists, so unknown names are throttled exactly like real ones.
CREATE TABLE password_throttle (
    name_key TEXT PRIMARY KEY NOT NULL,
    consecutive BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    disabled BIGINT NOT NULL DEFAULT 0
);
INSERT INTO password_throttle (name_key, consecutive, locked_until, disabled)
    SELECT u.username_key, f.consecutive, f.locked_until, f.disabled
    FROM factor_failures f JOIN users u ON u.id = f.user_id WHERE f.factor = 'password';
DELETE FROM factor_failures WHERE factor = 'password';
