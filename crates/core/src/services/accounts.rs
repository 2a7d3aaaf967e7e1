//! The accounts service: staff accounts for the CLI, the API's bearer tokens and the admin
//! pages' logins. Tokens and passwords are never stored: only their hashes.
//!
//! Account changes are appended to the audit log right after they succeed.
//!
//! Admin login sessions live in the store (shared by replicas, kept across restarts): a
//! logout revokes one, a password change or a disabled account revokes all of a user's
//! ("logout-all", audited), and the admin pages check the session on every request.
//!
//! Store roles: users, sessions, audit.

use chrono::{DateTime, Utc};

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
        self.end_all_sessions(by, username, "disabled").await?;
        Ok(true)
    }

    /// Set the admin password of `username` (an argon2 PHC hash) on behalf of `by` and end
    /// every session of that user in the same transaction; false when no such account
    /// exists. Audited as a password change and a logout-all.
    pub async fn change_password(
        &self,
        by: &Actor,
        username: &Username,
        password_hash: &str,
    ) -> Result<bool, DeskError> {
        let now = self.desk.now();
        let Some(revoked) = self
            .desk
            .session_store()
            .change_password(username, password_hash, now)
            .await?
        else {
            return Ok(false);
        };
        let audit = self.desk.audit();
        audit
            .record(
                audit
                    .entry(by, actions::PASSWORD_CHANGE)
                    .with_detail(serde_json::json!({ "username": username.as_str() })),
            )
            .await?;
        audit
            .record(
                audit
                    .entry(by, actions::LOGOUT_ALL)
                    .with_detail(serde_json::json!({
                        "username": username.as_str(),
                        "reason": "password_change",
                        "sessions": revoked,
                    })),
            )
            .await?;
        Ok(true)
    }

    /// End every session of `username` on behalf of `by`; how many were live. When some
    /// were, audited as a logout-all with `reason`.
    pub async fn end_all_sessions(
        &self,
        by: &Actor,
        username: &Username,
        reason: &str,
    ) -> Result<u64, DeskError> {
        let n = self
            .desk
            .session_store()
            .revoke_user_sessions(username, self.desk.now())
            .await?;
        if n == 0 {
            return Ok(0);
        }
        let audit = self.desk.audit();
        audit
            .record(
                audit
                    .entry(by, actions::LOGOUT_ALL)
                    .with_detail(serde_json::json!({
                        "username": username.as_str(),
                        "reason": reason,
                        "sessions": n,
                    })),
            )
            .await?;
        Ok(n)
    }

    /// Record a new admin session `id` of `username` until `expires_at`.
    pub async fn start_session(
        &self,
        id: &str,
        username: &Username,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        Ok(self
            .desk
            .session_store()
            .create_session(id, username, self.desk.now(), expires_at)
            .await?)
    }

    /// Is admin session `id` recorded, not revoked and not expired?
    pub async fn session_live(&self, id: &str) -> Result<bool, DeskError> {
        Ok(self
            .desk
            .session_store()
            .session_live(id, self.desk.now())
            .await?)
    }

    /// Revoke admin session `id` (logout, on every replica).
    pub async fn end_session(&self, id: &str) -> Result<bool, DeskError> {
        Ok(self
            .desk
            .session_store()
            .revoke_session(id, self.desk.now())
            .await?)
    }

    /// Spend a login-form token: true the first time, false for a replay.
    pub async fn consume_login_token(
        &self,
        nonce: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, DeskError> {
        Ok(self
            .desk
            .session_store()
            .consume_login_token(nonce, expires_at, self.desk.now())
            .await?)
    }
}
