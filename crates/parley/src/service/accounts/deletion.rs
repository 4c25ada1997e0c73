//! Deleting an account (after re-authentication): its sessions end and a tombstone keeps its
//! name taken.

use super::{Accounts, Client, SecondFactor};
use crate::core::AppResult;
use crate::db::users::UserRow;

impl Accounts {
    /// Delete the account after re-authentication: every session ends, the user is replaced
    /// by a tombstone (its name stays taken). Returns the ended sessions' hashes and the
    /// contacts to tell, so the caller can close WebSockets and notify.
    pub async fn delete_account(
        &self,
        user: &UserRow,
        password: &str,
        second: &SecondFactor,
        client: &Client,
    ) -> AppResult<Deleted> {
        self.reauthenticate(user, password, second, client).await?;
        let sessions = self.db.delete_sessions_of(&user.id).await?;
        let contacts = self.db.contacts_of(&user.id).await?;
        self.db.tombstone_user(&user.id, self.clock.now()).await?;
        tracing::info!("an account was deleted");
        Ok(Deleted { sessions, contacts })
    }
}

/// What an account deletion leaves to announce.
pub struct Deleted {
    /// The ended sessions' hashes (their WebSockets must close).
    pub sessions: Vec<String>,
    /// The users who had a conversation with the deleted account.
    pub contacts: Vec<String>,
}
