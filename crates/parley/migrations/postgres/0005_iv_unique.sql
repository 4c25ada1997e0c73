-- Issue 8 (E3: an IV is never reused under a key): the server refuses a repeated
-- (sender, key set, IV) of a `msg`, and a second `change` from the same (sender, key set), and
-- tells a client the highest IV it holds from it under a key set (GET /api/keysets/{ks}/last-iv),
-- so that a browser whose localStorage was restored from an older copy resumes above it.
-- Kept in step with ../sqlite/0005_iv_unique.sql.
ALTER TABLE messages ADD COLUMN key_set TEXT;       -- the payload's `key_set` (msg and change)
ALTER TABLE messages ADD COLUMN iv TEXT;            -- msg: the IV as posted (canonical base64); change: 'change'
ALTER TABLE messages ADD COLUMN iv_counter BIGINT;  -- msg: the IV counter; NULL for rows stored before 0005

-- Existing rows take part in the uniqueness too. A repeat that is already stored (the very
-- rollback this migration guards against) keeps its row, without a slot: the first one holds it.
UPDATE messages SET key_set = payload::jsonb ->> 'key_set', iv = payload::jsonb ->> 'iv'
    WHERE kind = 'msg';
UPDATE messages SET key_set = payload::jsonb ->> 'key_set', iv = 'change' WHERE kind = 'change';
UPDATE messages AS m SET iv = NULL
    WHERE m.iv IS NOT NULL AND EXISTS (
        SELECT 1 FROM messages AS earlier
        WHERE earlier.sender_id = m.sender_id AND earlier.key_set = m.key_set
          AND earlier.iv = m.iv AND earlier.id < m.id);
CREATE UNIQUE INDEX messages_sender_iv ON messages(sender_id, key_set, iv);
