-- Issue 10: the conversation list (GET /api/conversations) read every message of the user and
-- grouped them (15 ms with 90,000 stored, growing with the history). This table holds one row
-- per (owner, peer) with what the list shows, kept up to date by triggers in the same
-- statement (so the same transaction) as each message insert, read_at update and delete.
-- 0007 is unused on both databases. Kept in step with ../postgres/0009_conversations.sql.
CREATE TABLE conversations (
    owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    peer_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    last_id INTEGER NOT NULL,                -- MAX(messages.id) of the pair
    last_activity INTEGER NOT NULL,          -- MAX(messages.created_at) of the pair
    unread INTEGER NOT NULL,                 -- messages to owner, kind 'msg', read_at NULL
    PRIMARY KEY (owner_id, peer_id)
);

-- Backfill: both sides of every pair (a message to oneself gives one row).
INSERT INTO conversations (owner_id, peer_id, last_id, last_activity, unread)
SELECT owner_id, peer_id, MAX(id), MAX(created_at),
       SUM(CASE WHEN recipient_id = owner_id AND read_at IS NULL AND kind = 'msg' THEN 1 ELSE 0 END)
FROM (
    SELECT sender_id AS owner_id, recipient_id AS peer_id, id, created_at, recipient_id, read_at, kind
    FROM messages
    UNION ALL
    SELECT recipient_id, sender_id, id, created_at, recipient_id, read_at, kind
    FROM messages WHERE recipient_id <> sender_id
)
GROUP BY owner_id, peer_id;

CREATE TRIGGER conversations_on_insert AFTER INSERT ON messages
BEGIN
    INSERT INTO conversations (owner_id, peer_id, last_id, last_activity, unread)
    VALUES (NEW.sender_id, NEW.recipient_id, NEW.id, NEW.created_at,
            CASE WHEN NEW.sender_id = NEW.recipient_id AND NEW.kind = 'msg' AND NEW.read_at IS NULL THEN 1 ELSE 0 END)
    ON CONFLICT (owner_id, peer_id) DO UPDATE SET
        last_id = MAX(last_id, excluded.last_id),
        last_activity = MAX(last_activity, excluded.last_activity),
        unread = unread + excluded.unread;
    INSERT INTO conversations (owner_id, peer_id, last_id, last_activity, unread)
    SELECT NEW.recipient_id, NEW.sender_id, NEW.id, NEW.created_at,
           CASE WHEN NEW.kind = 'msg' AND NEW.read_at IS NULL THEN 1 ELSE 0 END
    WHERE NEW.recipient_id <> NEW.sender_id
    ON CONFLICT (owner_id, peer_id) DO UPDATE SET
        last_id = MAX(last_id, excluded.last_id),
        last_activity = MAX(last_activity, excluded.last_activity),
        unread = unread + excluded.unread;
END;

-- Marking read (or, in principle, unread) moves the recipient's unread count.
CREATE TRIGGER conversations_on_read AFTER UPDATE OF read_at, kind ON messages
WHEN (OLD.kind = 'msg' AND OLD.read_at IS NULL) <> (NEW.kind = 'msg' AND NEW.read_at IS NULL)
BEGIN
    UPDATE conversations
    SET unread = unread + CASE WHEN NEW.kind = 'msg' AND NEW.read_at IS NULL THEN 1 ELSE -1 END
    WHERE owner_id = NEW.recipient_id AND peer_id = NEW.sender_id;
END;

-- A delete (account tombstones remove whole conversations): drop the rows of a pair with no
-- message left; otherwise correct the unread count and, if the newest message (by id or by
-- time) went, recompute them from the pair's messages. Code that deletes many messages of a pair
-- deletes the pair's rows first (db/tombstones.rs), so that no recomputation runs per row.
CREATE TRIGGER conversations_on_delete AFTER DELETE ON messages
BEGIN
    UPDATE conversations SET unread = unread - 1
    WHERE OLD.kind = 'msg' AND OLD.read_at IS NULL
      AND owner_id = OLD.recipient_id AND peer_id = OLD.sender_id;
    DELETE FROM conversations
    WHERE ((owner_id = OLD.sender_id AND peer_id = OLD.recipient_id)
        OR (owner_id = OLD.recipient_id AND peer_id = OLD.sender_id))
      AND NOT EXISTS (SELECT 1 FROM messages WHERE pair_key = OLD.pair_key);
    UPDATE conversations
    SET last_id = (SELECT MAX(id) FROM messages WHERE pair_key = OLD.pair_key),
        last_activity = (SELECT MAX(created_at) FROM messages WHERE pair_key = OLD.pair_key)
    WHERE ((owner_id = OLD.sender_id AND peer_id = OLD.recipient_id)
        OR (owner_id = OLD.recipient_id AND peer_id = OLD.sender_id))
      AND (last_id = OLD.id OR last_activity = OLD.created_at);
END;
