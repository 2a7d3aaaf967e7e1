//! The accounts service: staff accounts for the CLI, the API's bearer tokens and the admin
//! pages' logins. Tokens and passwords are never stored: only their hashes.
//!
//! Account changes are appended to the audit log right after they succeed.
//!
//! Store roles: users, audit.

use crate::audit::actions;
use crate::desk::{Desk, DeskError};
use crate::model::{NewUser, User};
use crate::secret::hash_secret;
use crate::types::Username;
use crate::workflow::Actor;

/// Staff accounts. Get one with [`Desk::accounts`].
#[derive(Clone)]
pub struct Accounts {
    pub(crate) desk: Desk,
}

impl Accounts {
    /// Create an account on behalf of `by`; `AlreadyExists` when the username is taken.
    /// The change is then appended to the audit log (an error there is returned, the
    /// account stays).
    pub async fn create(&self, by: &Actor, user: NewUser) -> Result<i64, DeskError> {
        let detail = serde_json::json!({
            "username": user.username.as_str(),
            "role": user.role.as_str(),
            "bidang": user.bidang.as_ref().map(|b| b.as_str()),
            "password": user.password_hash.is_some(),
        });
        let id = self.desk.user_store().create_user(user).await?;
        let audit = self.desk.audit();
        audit
            .record(audit.entry(by, actions::USER_ADD).with_detail(detail))
            .await?;
        Ok(id)
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

    /// Disable an account on behalf of `by`; false when no such account exists. A change is
    /// then appended to the audit log.
    pub async fn disable(&self, by: &Actor, username: &Username) -> Result<bool, DeskError> {
        if !self.desk.user_store().disable_user(username).await? {
            return Ok(false);
        }
        let audit = self.desk.audit();
        audit
            .record(
                audit
                    .entry(by, actions::USER_DISABLE)
                    .with_detail(serde_json::json!({ "username": username.as_str() })),
            )
            .await?;
        Ok(true)
    }
}
