//! The accounts service: staff accounts for the CLI, the API's bearer tokens and the admin
//! pages' logins. Tokens and passwords are never stored: only their hashes.
//!
//! Store role: users.

use crate::desk::{Desk, DeskError};
use crate::model::{NewUser, User};
use crate::secret::hash_secret;
use crate::types::Username;

/// Staff accounts. Get one with [`Desk::accounts`].
#[derive(Clone)]
pub struct Accounts {
    pub(crate) desk: Desk,
}

impl Accounts {
    /// Create an account; `AlreadyExists` when the username is taken.
    pub async fn create(&self, user: NewUser) -> Result<i64, DeskError> {
        Ok(self.desk.user_store().create_user(user).await?)
    }

    /// The enabled account holding this API token (the token itself, hashed here).
    pub async fn by_token(&self, token: &str) -> Result<Option<User>, DeskError> {
        Ok(self
            .desk
            .user_store()
            .user_by_token_hash(&hash_secret(token))
            .await?)
    }

    /// An account by name (enabled or not; the caller checks `disabled`).
    pub async fn by_name(&self, username: &Username) -> Result<Option<User>, DeskError> {
        Ok(self.desk.user_store().user_by_name(username).await?)
    }

    /// Every account.
    pub async fn list(&self) -> Result<Vec<User>, DeskError> {
        Ok(self.desk.user_store().list_users().await?)
    }

    /// Disable an account; false when no such account exists.
    pub async fn disable(&self, username: &Username) -> Result<bool, DeskError> {
        Ok(self.desk.user_store().disable_user(username).await?)
    }
}
