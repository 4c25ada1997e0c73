-- Issue 14 (A4, WCAG 1.1.1; account deletion). Kept in step with
-- ../sqlite/0008_captcha_audio_tombstones.sql.

-- The answer sealed under the server key (AES-256-GCM, the challenge id as associated data),
-- so that the spoken version of the same challenge can be made on demand.
ALTER TABLE captchas ADD COLUMN answer_enc BYTEA;

-- A deleted account leaves a tombstone: the row stays (id and display name only) so that the
-- people it talked to keep their history and see "this account was deleted". Its credentials
-- are wiped, its username_key is freed (replaced by "deleted:<id>", which no username can be),
-- and everything else it owned is deleted (service/accounts.rs `delete_account`).
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
