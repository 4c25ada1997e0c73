-- End-to-end encrypted messaging (E1-E10): public keys and opaque message payloads.
-- Kept in step with ../sqlite/0003_messaging.sql.

-- Every identity public key a user ever published, with its time, so history stays attributable.
CREATE TABLE public_keys (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    public_key TEXT NOT NULL,                -- base64 of the 97-byte uncompressed P-384 point
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, public_key)
);

-- The server cannot read `payload`: it is the client's JSON (ciphertext, IV, MAC, key-set id).
CREATE TABLE messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    recipient_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    pair_key TEXT NOT NULL,                  -- the two user ids, sorted, joined by ':'
    kind TEXT NOT NULL,                      -- ecdh | msg | change
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,                    -- the recipient's client acknowledged it
    read_at BIGINT
);
CREATE INDEX messages_pair ON messages(pair_key, id);
CREATE INDEX messages_undelivered ON messages(recipient_id, delivered_at, id);
