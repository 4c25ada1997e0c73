-- Issue 10: the conversation list (GET /api/conversations) read every message of the user and
-- grouped them (growing with the history). This table holds one row per (owner, peer) with
-- what the list shows, kept up to date by triggers in the same transaction as each message
-- insert, read_at update and delete. 0007 is unused on both databases.
-- Kept in step with ../sqlite/0009_conversations.sql.
CREATE TABLE conversations (
    owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    peer_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    last_id BIGINT NOT NULL,                 -- MAX(messages.id) of the pair
    last_activity BIGINT NOT NULL,           -- MAX(messages.created_at) of the pair
    unread BIGINT NOT NULL,                  -- messages to owner, kind 'msg', read_at NULL
    PRIMARY KEY (owner_id, peer_id)
);

INSERT INTO conversations (owner_id, peer_id, last_id, last_activity, unread)
SELECT owner_id, peer_id, MAX(id), MAX(created_at),
       COUNT(*) FILTER (WHERE recipient_id = owner_id AND read_at IS NULL AND kind = 'msg')
FROM (
    SELECT sender_id AS owner_id, recipient_id AS peer_id, id, created_at, recipient_id, read_at, kind
    FROM messages
    UNION ALL
    SELECT recipient_id, sender_id, id, created_at, recipient_id, read_at, kind
    FROM messages WHERE recipient_id <> sender_id
) AS m
GROUP BY owner_id, peer_id;

CREATE FUNCTION conversations_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversations AS c (owner_id, peer_id, last_id, last_activity, unread)
    VALUES (NEW.sender_id, NEW.recipient_id, NEW.id, NEW.created_at,
            CASE WHEN NEW.sender_id = NEW.recipient_id AND NEW.kind = 'msg' AND NEW.read_at IS NULL THEN 1 ELSE 0 END)
    ON CONFLICT (owner_id, peer_id) DO UPDATE SET
        last_id = GREATEST(c.last_id, EXCLUDED.last_id),
        last_activity = GREATEST(c.last_activity, EXCLUDED.last_activity),
        unread = c.unread + EXCLUDED.unread;
    IF NEW.recipient_id <> NEW.sender_id THEN
        INSERT INTO conversations AS c (owner_id, peer_id, last_id, last_activity, unread)
        VALUES (NEW.recipient_id, NEW.sender_id, NEW.id, NEW.created_at,
                CASE WHEN NEW.kind = 'msg' AND NEW.read_at IS NULL THEN 1 ELSE 0 END)
        ON CONFLICT (owner_id, peer_id) DO UPDATE SET
            last_id = GREATEST(c.last_id, EXCLUDED.last_id),
            last_activity = GREATEST(c.last_activity, EXCLUDED.last_activity),
            unread = c.unread + EXCLUDED.unread;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_on_insert AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION conversations_on_insert();

CREATE FUNCTION conversations_on_read() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations
    SET unread = unread + CASE WHEN NEW.kind = 'msg' AND NEW.read_at IS NULL THEN 1 ELSE -1 END
    WHERE owner_id = NEW.recipient_id AND peer_id = NEW.sender_id;
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_on_read AFTER UPDATE OF read_at, kind ON messages
    FOR EACH ROW
    WHEN ((OLD.kind = 'msg' AND OLD.read_at IS NULL) IS DISTINCT FROM (NEW.kind = 'msg' AND NEW.read_at IS NULL))
    EXECUTE FUNCTION conversations_on_read();

CREATE FUNCTION conversations_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.kind = 'msg' AND OLD.read_at IS NULL THEN
        UPDATE conversations SET unread = unread - 1
        WHERE owner_id = OLD.recipient_id AND peer_id = OLD.sender_id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM messages WHERE pair_key = OLD.pair_key) THEN
        DELETE FROM conversations
        WHERE (owner_id = OLD.sender_id AND peer_id = OLD.recipient_id)
           OR (owner_id = OLD.recipient_id AND peer_id = OLD.sender_id);
    ELSE
        UPDATE conversations
        SET last_id = (SELECT MAX(id) FROM messages WHERE pair_key = OLD.pair_key),
            last_activity = (SELECT MAX(created_at) FROM messages WHERE pair_key = OLD.pair_key)
        WHERE ((owner_id = OLD.sender_id AND peer_id = OLD.recipient_id)
            OR (owner_id = OLD.recipient_id AND peer_id = OLD.sender_id))
          AND (last_id = OLD.id OR last_activity = OLD.created_at);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER conversations_on_delete AFTER DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION conversations_on_delete();
