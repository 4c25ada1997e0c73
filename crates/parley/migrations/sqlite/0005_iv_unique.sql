-- Issue 8 (E3: an IV is never reused under a key): the server refuses a repeated
-- (sender, key set, IV) of a `msg`, and a second `change` from the same (sender, key set), and
-- tells a client the highest IV it holds from it under a key set (GET /api/keysets/{ks}/last-iv),
-- so that a browser whose localStorage was restored from an older copy resumes above it.
-- Kept in step with ../postgres/0005_iv_unique.sql.
ALTER TABLE messages ADD COLUMN key_set TEXT;       -- the payload's `key_set` (msg and change)
ALTER TABLE messages ADD COLUMN iv TEXT;            -- msg: the IV as posted (canonical base64); change: 'change'
ALTER TABLE messages ADD COLUMN iv_counter INTEGER; -- msg: the IV counter; NULL for rows stored before 0005

-- Existing rows take part in the uniqueness too. A repeat that is already stored (the very
-- rollback this migration guards against) keeps its row, without a slot: the first one holds it.
UPDATE messages SET key_set = json_extract(payload, '$.key_set'), iv = json_extract(payload, '$.iv')
    WHERE kind = 'msg';
UPDATE messages SET key_set = json_extract(payload, '$.key_set'), iv = 'change' WHERE kind = 'change';
CREATE INDEX messages_slot_backfill ON messages(sender_id, key_set, iv, id);
UPDATE messages SET iv = NULL
    WHERE iv IS NOT NULL AND EXISTS (
        SELECT 1 FROM messages AS earlier
        WHERE earlier.sender_id = messages.sender_id AND earlier.key_set = messages.key_set
          AND earlier.iv = messages.iv AND earlier.id < messages.id);
DROP INDEX messages_slot_backfill;
CREATE UNIQUE INDEX messages_sender_iv ON messages(sender_id, key_set, iv);
