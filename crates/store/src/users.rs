//! Staff accounts. Usernames and token hashes are unique; disabled users keep their row
//! (history refers to them by name) but no longer authenticate by token.

use aduan_core::model::{NewUser, User};
use aduan_core::store::StoreError;
use aduan_core::types::Username;

use crate::backend::{Backend, RowExt, args, fetch_one};
use crate::rows::{self, user_columns};

const INSERT: &str = "\
    INSERT INTO users (username, role, bidang, display_name, token_hash, password_hash, \
    disabled, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7) \
    RETURNING id";
const BY_TOKEN_HASH: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE token_hash = $1 AND disabled = FALSE"
);
const BY_NAME: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE username = $1"
);
const ALL: &str = concat!("SELECT ", user_columns!(), " FROM users ORDER BY username");
const DISABLE: &str = "UPDATE users SET disabled = TRUE WHERE username = $1";

pub(crate) async fn create<B: Backend>(b: &B, u: NewUser) -> Result<i64, StoreError> {
    let mut conn = b.writer().await?;
    let inserted = fetch_one::<B>(
        &mut conn,
        INSERT,
        args![
            u.username.as_str(),
            u.role.as_str(),
            u.bidang.as_ref().map(|b| b.as_str()),
            u.display_name,
            u.token_hash,
            u.password_hash,
            u.created_at,
        ],
    )
    .await;
    match inserted {
        Ok(row) => row.i64("id"),
        // Both drivers name the violated column/constraint in the message.
        Err(StoreError::AlreadyExists(msg)) if msg.contains("token_hash") => {
            Err(StoreError::AlreadyExists("token hash".into()))
        }
        Err(StoreError::AlreadyExists(_)) => Err(StoreError::AlreadyExists(format!(
            "username {}",
            u.username.as_str()
        ))),
        Err(e) => Err(e),
    }
}

pub(crate) async fn by_token_hash<B: Backend>(
    b: &B,
    token_hash: &str,
) -> Result<Option<User>, StoreError> {
    let mut conn = b.reader().await?;
    B::fetch_optional(&mut conn, BY_TOKEN_HASH, args![token_hash])
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
}

pub(crate) async fn by_name<B: Backend>(
    b: &B,
    username: &Username,
) -> Result<Option<User>, StoreError> {
    let mut conn = b.reader().await?;
    B::fetch_optional(&mut conn, BY_NAME, args![username.as_str()])
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
}

pub(crate) async fn list<B: Backend>(b: &B) -> Result<Vec<User>, StoreError> {
    let mut conn = b.reader().await?;
    B::fetch_all(&mut conn, ALL, args![])
        .await?
        .iter()
        .map(rows::user)
        .collect()
}

pub(crate) async fn disable<B: Backend>(b: &B, username: &Username) -> Result<bool, StoreError> {
    let mut conn = b.writer().await?;
    Ok(B::execute(&mut conn, DISABLE, args![username.as_str()]).await? > 0)
}
