-- Accounts, authenticators, sessions, CAPTCHAs and rate-limit state (A1-A8).
-- Times are Unix seconds. Kept in step with ../sqlite/0002_accounts.sql.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,            -- random 128-bit; never reused
    username TEXT NOT NULL,                  -- NFKC, as chosen
    username_key TEXT NOT NULL UNIQUE,       -- case-folded, for uniqueness and lookup
    password_hash TEXT NOT NULL,             -- hp1$<argon2id PHC> (peppered)
    totp_secret_enc BYTEA NOT NULL,           -- AES-256-GCM under the server's totp key
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    must_change_password BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- Consecutive failures per account and factor, shared by every instance (§5.2.2, 6.1-throttle-state).
CREATE TABLE factor_failures (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    factor TEXT NOT NULL,
    consecutive BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    disabled BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, factor)
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,       -- SHA-256 of the cookie value
    public_id TEXT NOT NULL UNIQUE,          -- for listing and revoking; not a credential
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,                     -- 'pending' (password only) | 'full'
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,             -- when this authentication happened
    last_active_at BIGINT NOT NULL,         -- last user action
    user_agent TEXT NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE registrations (
    id_hash TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret_enc BYTEA NOT NULL,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    stage TEXT NOT NULL,                     -- 'totp' | 'recovery'
    recovery_hashes TEXT,                    -- JSON array, set when the codes are shown
    failures BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL
);

CREATE TABLE captchas (
    id TEXT PRIMARY KEY NOT NULL,
    answer_hash TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Pending TOTP re-enrolment: the old authenticator works until the new one is confirmed.
CREATE TABLE totp_enrolments (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_enc BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Every authenticator ever bound (§6.1-record-all), with time and source.
CREATE TABLE authenticators (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,                      -- password | totp | recovery_codes
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    source_ip TEXT NOT NULL,
    source_user_agent TEXT NOT NULL
);
CREATE INDEX authenticators_user ON authenticators(user_id);

-- The security log shown to the user (sign-ins, failures, factor changes, sessions).
CREATE TABLE security_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX security_events_user ON security_events(user_id, at);
