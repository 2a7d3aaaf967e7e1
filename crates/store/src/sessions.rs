//! Admin login sessions and the login form's single-use tokens (migration 0008), shared by
//! every replica so that a logout, a logout-all and a spent login form hold everywhere and
//! across restarts.
//!
//! Invariants:
//! - A session is live while its row exists, `revoked_at` is NULL and `expires_at` is after
//!   now; the check is one primary-key look-up ([`live`]).
//! - A password change and the revocation of the user's sessions commit together
//!   ([`change_password`]): no session opened with the old password survives the change.
//! - A login token is spent by one conflict-ignoring insert, so of two replicas spending the
//!   same token exactly one succeeds ([`consume_login_token`]).
//! - Expired sessions and tokens are pruned by the writes that add new ones (indexed on
//!   `expires_at`), so both tables stay as small as the live logins and forms.

use chrono::{DateTime, Utc};

use aduan_core::store::StoreError;
use aduan_core::types::Username;

use crate::backend::{Backend, args, db_err};

const INSERT: &str = "\
    INSERT INTO admin_sessions (id, username, created_at, expires_at) VALUES ($1, $2, $3, $4)";
const PRUNE_SESSIONS: &str = "DELETE FROM admin_sessions WHERE expires_at <= $1";
const LIVE: &str = "\
    SELECT id FROM admin_sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2";
const REVOKE: &str =
    "UPDATE admin_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
const REVOKE_USER: &str =
    "UPDATE admin_sessions SET revoked_at = $2 WHERE username = $1 AND revoked_at IS NULL";
const SET_PASSWORD: &str = "UPDATE users SET password_hash = $2 WHERE username = $1";
const SPEND_TOKEN: &str = "\
    INSERT INTO login_tokens (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING";
const PRUNE_TOKENS: &str = "DELETE FROM login_tokens WHERE expires_at <= $1";

pub(crate) async fn create<B: Backend>(
    b: &B,
    id: &str,
    username: &Username,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    B::execute(&mut tx, PRUNE_SESSIONS, args![now]).await?;
    B::execute(&mut tx, PRUNE_TOKENS, args![now]).await?;
    B::execute(
        &mut tx,
        INSERT,
        args![id, username.as_str(), now, expires_at],
    )
    .await?;
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn live<B: Backend>(
    b: &B,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut conn = b.reader().await?;
    Ok(B::fetch_optional(&mut conn, LIVE, args![id, now])
        .await?
        .is_some())
}

pub(crate) async fn revoke<B: Backend>(
    b: &B,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut conn = b.writer().await?;
    Ok(B::execute(&mut conn, REVOKE, args![id, at]).await? > 0)
}

pub(crate) async fn revoke_user<B: Backend>(
    b: &B,
    username: &Username,
    at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut conn = b.writer().await?;
    B::execute(&mut conn, REVOKE_USER, args![username.as_str(), at]).await
}

pub(crate) async fn change_password<B: Backend>(
    b: &B,
    username: &Username,
    password_hash: &str,
    at: DateTime<Utc>,
) -> Result<Option<u64>, StoreError> {
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    if B::execute(
        &mut tx,
        SET_PASSWORD,
        args![username.as_str(), password_hash],
    )
    .await?
        == 0
    {
        tx.rollback().await.map_err(db_err)?;
        return Ok(None);
    }
    let n = B::execute(&mut tx, REVOKE_USER, args![username.as_str(), at]).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some(n))
}

pub(crate) async fn consume_login_token<B: Backend>(
    b: &B,
    nonce: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    B::execute(&mut tx, PRUNE_TOKENS, args![now]).await?;
    let fresh = B::execute(&mut tx, SPEND_TOKEN, args![nonce, expires_at]).await? > 0;
    tx.commit().await.map_err(db_err)?;
    Ok(fresh)
}
