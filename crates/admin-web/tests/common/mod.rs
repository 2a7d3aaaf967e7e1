//! Test harness: a real [`Desk`] over a fresh SQLite store (or PostgreSQL, [`spawn_on`]),
//! served with the admin pages and the JSON staff API on 127.0.0.1:0, a clock the tests
//! move by hand, and staff accounts with argon2 password hashes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use aduan_admin_web::AdminWebConfig;
use aduan_core::calendar::WorkCalendar;
use aduan_core::desk::{Desk, Submission};
use aduan_core::model::NewUser;
use aduan_core::secret::{hash_secret, new_api_token};
use aduan_core::sla::{SlaDurations, SlaPolicy};
use aduan_core::types::{BidangCode, Channel, Role, Username};
use chrono::{DateTime, TimeZone, Utc};

pub use aduan_core::testing::ManualClock;

pub const OFFICE: &str = "Dinas Kependudukan dan Pencatatan Sipil Kabupaten Buleleng";

/// Staff accounts every test app has: (username, role, bidang, password).
pub const USERS: &[(&str, Role, Option<&str>, &str)] = &[
    ("sri.staf", Role::Staf, None, "staf-rahasia-1"),
    ("ayu.kasi", Role::Kasi, None, "kasi-rahasia-1"),
    ("dafduk1", Role::Bidang, Some("dafduk"), "dafduk-rahasia-1"),
    ("capil1", Role::Bidang, Some("capil"), "capil-rahasia-1"),
    ("kabid.pdip", Role::Kabid, None, "kabid-rahasia-1"),
    ("kadis", Role::Kadis, None, "kadis-rahasia-1"),
];

pub fn password_of(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|u| u.0 == user)
        .map(|u| u.3)
        .expect("known test user")
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub desk: Desk,
    pub clock: ManualClock,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Argon2id PHC hash with small parameters (fast in debug builds); verification reads the
/// parameters from the hash, exactly as for the production hashes of `aduan user add`.
pub fn hash_password(pw: &str) -> String {
    use argon2::PasswordHasher as _;
    let params = argon2::Params::new(1024, 1, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(pw.as_bytes())
        .unwrap()
        .to_string()
}

/// 10:00 WITA on Tuesday 10 March 2026.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap()
}

pub async fn spawn() -> TestApp {
    spawn_with_calendar(WorkCalendar::always_open(chrono_tz::Asia::Makassar)).await
}

/// [`spawn`] over a given working calendar.
pub async fn spawn_with_calendar(calendar: WorkCalendar) -> TestApp {
    spawn_full(calendar, false).await
}

/// [`spawn`] on a fresh PostgreSQL database (127.0.0.1:5432) when `postgres`, else SQLite.
pub async fn spawn_on(postgres: bool) -> TestApp {
    spawn_full(
        WorkCalendar::always_open(chrono_tz::Asia::Makassar),
        postgres,
    )
    .await
}

/// [`spawn`] with given login limits (the caller keeps a clone to read its stats).
pub async fn spawn_with_login(login: aduan_admin_web::LoginLimits) -> TestApp {
    spawn_all(
        WorkCalendar::always_open(chrono_tz::Asia::Makassar),
        false,
        login,
    )
    .await
}

async fn spawn_full(calendar: WorkCalendar, postgres: bool) -> TestApp {
    spawn_all(calendar, postgres, aduan_admin_web::LoginLimits::default()).await
}

async fn spawn_all(
    calendar: WorkCalendar,
    postgres: bool,
    login: aduan_admin_web::LoginLimits,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = if postgres {
        aduan_store::testing::fresh_postgres_url().await
    } else {
        aduan_store::testing::fresh_sqlite_url(dir.path())
    };
    let store = aduan_store::testing::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = ManualClock::new(start_time());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let mut cfg = aduan_core::testing::desk_config([Channel::Email]);
    cfg.policy = SlaPolicy::new(calendar, SlaDurations::default());
    cfg.public_base_url = base.clone();
    let desk = Desk::new(store, Arc::new(clock.clone()), cfg);
    for (name, role, bidang, pw) in USERS {
        desk.store()
            .create_user(NewUser {
                username: Username::parse(name).unwrap(),
                role: *role,
                bidang: bidang.map(|b| BidangCode::parse(b).unwrap()),
                display_name: None,
                token_hash: hash_secret(&new_api_token()),
                password_hash: Some(hash_password(pw)),
                created_at: Utc::now(),
            })
            .await
            .unwrap();
    }
    let web = AdminWebConfig {
        session_key: [42u8; 32],
        secure_cookie: false,
        session_ttl: chrono::Duration::hours(8),
        login,
    };
    let app = aduan_admin_web::router(desk.clone(), web).merge(aduan_admin::router(desk.clone()));
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    TestApp {
        addr,
        base,
        desk,
        clock,
        server,
        _dir: dir,
    }
}

/// The identity used in masking tests, and a body that repeats it.
pub const CITIZEN_NAME: &str = "Ni Luh Putu Sariasih";
pub const CITIZEN_EMAIL: &str = "luhputu.sari@contoh.id";
pub const CITIZEN_PHONE: &str = "081234567890";
pub const CITIZEN_NIK: &str = "5108014506900002";
pub const CITIZEN_ADDRESS: &str = "Jl. Pantai Lovina No. 7, Kalibukbuk";

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A web complaint with full identity, repeated in the text; returns its ticket.
    pub async fn web_complaint(&self, body: &str) -> String {
        let r = self
            .desk
            .intake()
            .submit(Submission {
                channel: Some(Channel::Web),
                name: Some(CITIZEN_NAME.into()),
                address: Some(CITIZEN_ADDRESS.into()),
                email: Some(CITIZEN_EMAIL.into()),
                phone: Some(CITIZEN_PHONE.into()),
                target: Some("loket KTP-el".into()),
                category: Some("pelayanan".into()),
                body: body.into(),
                with_access_code: true,
                ..Default::default()
            })
            .await
            .unwrap();
        r.ticket.to_string()
    }

    pub fn actor(&self, user: &str) -> aduan_core::workflow::Actor {
        let (name, role, bidang, _) = USERS.iter().find(|u| u.0 == user).unwrap();
        aduan_core::workflow::Actor::Staff {
            username: name.to_string(),
            role: *role,
            bidang: bidang.map(|b| BidangCode::parse(b).unwrap()),
        }
    }
}

/// The identity of [`TestApp::web_complaint`] in all its written forms.
pub fn identity_needles() -> Vec<&'static str> {
    vec![
        CITIZEN_NAME,
        "Sariasih",
        CITIZEN_EMAIL,
        "luhputu",
        CITIZEN_PHONE,
        "0812-3456-7890",
        "567890",
        CITIZEN_NIK,
        "Pantai Lovina",
    ]
}

/// A body that carries the identity too (masked for bidang users).
pub fn body_with_identity() -> String {
    format!(
        "KTP-el saya belum jadi sejak Januari. Hubungi saya di {CITIZEN_EMAIL} atau 0812-3456-7890. NIK {CITIZEN_NIK}."
    )
}
