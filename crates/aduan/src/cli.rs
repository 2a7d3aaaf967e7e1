//! The command line (SPEC §1). Exit codes: 0 success, 2 bad usage or invalid config, 1 a
//! runtime failure.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use aduan_core::audit::actions;
use aduan_core::desk::Verification;
use aduan_core::logbook::{self, Month};
use aduan_core::model::NewUser;
use aduan_core::secret::{hash_secret, new_api_token};
use aduan_core::store::Store;
use aduan_core::types::{BidangCode, Role, Username};
use aduan_core::workflow::Actor;
use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::{Application, Overrides};
use crate::config::{self, Runtime};

#[derive(Parser, Debug)]
#[command(
    name = "aduan",
    version,
    about = "Citizen complaint desk for SOP-PDIP-03"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "ADUAN_CONFIG",
        default_value = "config/aduan.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Migrate, start every enabled channel, the HTTP server and the workers.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate and print the effective configuration (secrets masked).
    CheckConfig,
    /// Manage staff accounts.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Build (once) the monthly report and print it as JSON; `--send` delivers it.
    Digest {
        #[arg(long)]
        month: String,
        #[arg(long)]
        send: bool,
    },
    /// Write the logbook FM-PDIP-03-02 of a month.
    Export {
        #[arg(long)]
        month: String,
        #[arg(long, value_parser = ["csv", "xlsx", "html", "json"])]
        format: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The identity key ring.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Copy the whole installation into another, empty database (SQLite → PostgreSQL, or
    /// back), then verify the row counts and the audit chain there. Stop every `aduan
    /// serve` first; the configuration's key ring must open the source and will open the
    /// target.
    MigrateStore {
        /// The database to copy from (`sqlite:///var/lib/aduan/aduan.db`, `postgres://…`).
        #[arg(long)]
        from: String,
        /// The empty database to copy into (created schema and all; a database holding
        /// any data is refused).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Re-seal every stored identity and attachment under a new key (resumable; the old key
    /// stays in the ring until every row is re-sealed). Run it with the daemons stopped.
    Rotate,
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Check the whole chain: exit 0 when intact (prints the entry count and head hash), 1
    /// naming the first entry that does not verify.
    Verify,
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create an account; prints its API token once, on the last line.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        bidang: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Read a password for the admin web pages from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Set the admin-pages password of an account (read from stdin); every session of that
    /// account ends at once, on every replica ("logout-all").
    SetPassword {
        username: String,
        /// Read the new password from stdin (required: never from the command line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account (its token stops working, its admin sessions end).
    Disable { username: String },
}

/// A failure with its exit code.
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        error: anyhow::anyhow!(msg.into()),
    }
}

impl From<aduan_store::KeyError> for Failure {
    fn from(error: aduan_store::KeyError) -> Self {
        Failure {
            code: 1,
            error: error.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure { code: 1, error }
    }
}

fn load(cli: &Cli) -> Result<Runtime, Failure> {
    config::load_runtime(&cli.config).map_err(|e| Failure {
        code: 2,
        error: anyhow::anyhow!("{}: {}", cli.config.display(), e.to_string().trim_end()),
    })
}

async fn open_store(rt: &Runtime) -> Result<Arc<dyn Store>, Failure> {
    let vault = crate::privacy::vault(&rt.settings.privacy)?;
    let store = aduan_store::connect(&rt.settings.database.url, vault)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// `aduan keys rotate`: see [`KeysCmd::Rotate`].
async fn rotate_keys(rt: &Runtime) -> Result<(), Failure> {
    use crate::privacy::{KeySource, load_ring};
    use aduan_store::{Key, KeyRing, Vault};
    let (ring, source) = load_ring(&rt.settings.privacy)?;
    let ring = match (&source, ring.keys().len()) {
        (KeySource::Environment, 1) => {
            return Err(usage(format!(
                "the identity key comes from ADUAN__PRIVACY__KEY: set it to \"NEW,OLD\" (the \
                 new key first) and run this again; a new key: {}",
                Key::generate().to_base64()
            )));
        }
        (KeySource::File(path), 1) => {
            let ring = KeyRing::new(vec![Key::generate(), ring.keys()[0].clone()])?;
            ring.store(path)?;
            eprintln!(
                "new key {} written to {} (the old key {} stays until the rotation finishes)",
                ring.keys()[0].id_hex(),
                path.display(),
                ring.keys()[1].id_hex()
            );
            ring
        }
        (_, _) => {
            eprintln!(
                "resuming the rotation to key {} ({} older keys in the ring)",
                ring.keys()[0].id_hex(),
                ring.keys().len() - 1
            );
            ring
        }
    };
    let vault = Vault::new(&ring);
    let store = aduan_store::connect(&rt.settings.database.url, vault)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    // A pass that still finds rows under an old key means a writer used the old ring during
    // the previous pass (a daemon left running): go again, a few times at most.
    let mut total = 0u64;
    for pass in 1..=3 {
        let mut done: std::collections::BTreeMap<&str, u64> = Default::default();
        let mut n = 0;
        while let Some((table, rows)) = store
            .rotate_keys_step()
            .await
            .context("re-sealing the stored identities")?
        {
            let sum = done.entry(table).or_default();
            *sum += rows;
            n += rows;
            if rows > 0 {
                eprintln!("pass {pass}: {table}: {sum} rows re-sealed");
            }
        }
        total += n;
        if n == 0 || pass == 3 {
            if n > 0 {
                return Err(anyhow::anyhow!(
                    "rows under the old key keep appearing: stop every `aduan serve` using \
                     the old key and run `aduan keys rotate` again (the old key is kept)"
                )
                .into());
            }
            break;
        }
    }
    let current = KeyRing::new(vec![ring.keys()[0].clone()])?;
    match &source {
        KeySource::File(path) => {
            current.store(path)?;
            println!(
                "rotated: {total} rows re-sealed under key {}; {} now holds only that key — \
                 back it up now",
                current.keys()[0].id_hex(),
                path.display()
            );
        }
        KeySource::Environment => println!(
            "rotated: {total} rows re-sealed under key {}; remove the older keys from \
             ADUAN__PRIVACY__KEY",
            current.keys()[0].id_hex()
        ),
    }
    Ok(())
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Cmd::CheckConfig => {
            let rt = load(&cli)?;
            if rt.replica_id_generated {
                println!(
                    "# replica_id in effect: \"{}\" (generated: unique to each process; set \
                     server.replica_id or ADUAN_REPLICA_ID to fix it)",
                    rt.replica_id
                );
            } else {
                println!("# replica_id in effect: \"{}\"", rt.replica_id);
            }
            println!("{}", config::render_masked(&rt.settings));
            eprintln!("configuration {} is valid", cli.config.display());
            Ok(())
        }
        Cmd::Migrate => {
            let rt = load(&cli)?;
            open_store(&rt).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Cmd::Serve => {
            let rt = load(&cli)?;
            // Register the handlers before anything is served, so a SIGTERM that arrives
            // right after "listening on" is already a graceful stop.
            let mut signals = Signals::register().context("installing signal handlers")?;
            let app = Application::build(rt, Overrides::default()).await?;
            let token = app.shutdown_token();
            tokio::spawn(async move {
                signals.next().await;
                token.cancel();
                signals.next().await;
                tracing::warn!("second signal: exiting at once");
                std::process::exit(1);
            });
            app.run().await?;
            Ok(())
        }
        Cmd::User { cmd } => {
            let rt = load(&cli)?;
            user(cmd, &rt).await
        }
        Cmd::Audit { cmd } => {
            let rt = load(&cli)?;
            audit(cmd, &rt).await
        }
        Cmd::Digest { month, send } => {
            let rt = load(&cli)?;
            let month = Month::parse(month).map_err(|e| usage(e.to_string()))?;
            let delivery = crate::app::digest_delivery(&rt).map_err(usage)?;
            if *send && delivery.is_none() {
                return Err(usage(
                    "--send needs e-mail: set channels.email.enabled, smtp_host and from",
                ));
            }
            let desk = crate::app::desk_for_cli(&rt).await?;
            let (rec, _) = desk
                .reports()
                .build_report(month)
                .await
                .map_err(|e| anyhow::anyhow!("building the report: {e}"))?;
            if *send {
                let d = delivery.expect("checked above");
                desk.reports()
                    .request_resend(month)
                    .await
                    .context("requesting delivery")?;
                crate::schedulers::build_and_deliver(&desk, month, Some(&d))
                    .await
                    .map_err(|e| anyhow::anyhow!("delivering the digest: {e}"))?;
                eprintln!("digest for {month} delivered");
            }
            println!("{}", rec.report_json);
            Ok(())
        }
        Cmd::MigrateStore { from, to } => {
            let rt = load(&cli)?;
            migrate_store(&rt, from, to).await
        }
        Cmd::Keys {
            cmd: KeysCmd::Rotate,
        } => {
            let rt = load(&cli)?;
            rotate_keys(&rt).await
        }
        Cmd::Export { month, format, out } => {
            let rt = load(&cli)?;
            let month = Month::parse(month).map_err(|e| usage(e.to_string()))?;
            let desk = crate::app::desk_for_cli(&rt).await?;
            let pages = desk
                .reports()
                .logbook_pages(month, logbook::Masking::None)
                .await
                .context("reading complaints")?;
            // Recorded in the audit log before anything is written out.
            let audit = desk.audit();
            let entry = audit
                .entry(&Actor::System, actions::LOGBOOK_EXPORT)
                .with_detail(serde_json::json!({
                    "month": month.to_string(),
                    "format": format,
                    "via": "cli",
                    "rows": pages.total,
                }));
            audit
                .record(entry)
                .await
                .context("writing the export to the audit log")?;
            let sink: Box<dyn std::io::Write + Send> = match out {
                Some(p) => Box::new(
                    std::fs::File::create(p).with_context(|| format!("writing {}", p.display()))?,
                ),
                None => Box::new(std::io::stdout()),
            };
            let sink = std::io::BufWriter::with_capacity(64 * 1024, sink);
            let written =
                export_pages(pages, format, &rt.settings.office.name, month, rt.tz, sink).await;
            if let (Err(_), Some(p)) = (&written, out) {
                // No partial file that looks like a whole logbook.
                let _ = std::fs::remove_file(p);
            }
            written.map_err(|e| anyhow::anyhow!("writing the logbook: {e}"))?;
            Ok(())
        }
    }
}

/// Write the logbook of `pages` to `out` in `format`, page by page (memory does not grow
/// with the month).
async fn export_pages(
    mut pages: logbook::LogbookPages,
    format: &str,
    office: &str,
    month: Month,
    tz: chrono_tz::Tz,
    mut out: impl std::io::Write + Send + 'static,
) -> Result<(), String> {
    use aduan_admin::export::{html_head, html_row, html_tail};
    if format == "xlsx" {
        aduan_digest::xlsx::write_logbook_xlsx(pages, office, month, tz, out).await?;
        return Ok(());
    }
    let head = match format {
        "csv" => logbook::csv_header(),
        "html" => html_head(office, month),
        _ => {
            let h = serde_json::json!({
                "month": month.to_string(), "form": "FM-PDIP-03-02",
                "columns": logbook::COLUMNS,
            })
            .to_string();
            format!("{},\"rows\":[", h.trim_end_matches('}'))
        }
    };
    let w = |out: &mut dyn std::io::Write, s: &str| {
        out.write_all(s.as_bytes()).map_err(|e| e.to_string())
    };
    w(&mut out, &head)?;
    let mut any = false;
    while let Some(rows) = pages.next_page().await.map_err(|e| e.to_string())? {
        let mut chunk = String::new();
        for r in &rows {
            match format {
                "csv" => chunk.push_str(&logbook::csv_row(r, tz)),
                "html" => chunk.push_str(&html_row(r, tz)),
                _ => {
                    if any {
                        chunk.push(',');
                    }
                    chunk.push_str(&serde_json::to_string(r).map_err(|e| e.to_string())?);
                }
            }
            any = true;
        }
        w(&mut out, &chunk)?;
    }
    let tail = match format {
        "csv" => String::new(),
        "html" => html_tail(any),
        _ => "]}\n".to_string(),
    };
    w(&mut out, &tail)?;
    out.flush().map_err(|e| e.to_string())
}

/// `aduan migrate-store`: see [`Cmd::MigrateStore`]. Progress goes to stderr, the
/// verification table (and the audit chain's state on the target) to stdout.
async fn migrate_store(rt: &Runtime, from: &str, to: &str) -> Result<(), Failure> {
    use aduan_store::copy::CopyError;
    let vault = crate::privacy::vault(&rt.settings.privacy)?;
    eprintln!(
        "copying {} to {}",
        aduan_store::copy::redact_url(from),
        aduan_store::copy::redact_url(to)
    );
    let progress = |line: &str| eprintln!("{line}");
    let report = match aduan_store::copy::migrate_store(from, to, vault, &progress).await {
        Ok(r) => r,
        Err(e @ CopyError::TargetNotEmpty(_)) => {
            return Err(Failure {
                code: 1,
                error: anyhow::anyhow!("{e}; nothing was written"),
            });
        }
        Err(e) => {
            return Err(Failure {
                code: 1,
                error: anyhow::anyhow!("migrate-store failed: {e}"),
            });
        }
    };
    print!("{}", report.render());
    println!(
        "{} rows copied in {:.1} s",
        report.rows,
        report.elapsed.as_secs_f64()
    );
    if !report.matches() {
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!(
                "the target's counts differ from the source's (rows marked DIFFERS above)"
            ),
        });
    }
    // The chain on the target, through the store like `aduan audit verify`.
    let mut target = rt.clone();
    target.settings.database.url = to.to_string();
    let desk = crate::app::desk_for_cli(&target).await?;
    match desk
        .audit()
        .verify()
        .await
        .context("reading the target's audit log")?
    {
        Verification::Intact(s) => {
            println!(
                "audit chain intact on the target: {} entries, head {}",
                s.entries, s.head
            );
            println!("counts verified: the target holds the whole installation");
            Ok(())
        }
        Verification::Broken { first, verified } => Err(Failure {
            code: 1,
            error: anyhow::anyhow!(
                "the audit chain on the target is broken at {first}; the {} entries before \
                 it verify (head {})",
                verified.entries,
                verified.head
            ),
        }),
    }
}

/// `aduan audit verify`: the whole chain through the store, in batches.
async fn audit(cmd: &AuditCmd, rt: &Runtime) -> Result<(), Failure> {
    match cmd {
        AuditCmd::Verify => {
            let desk = crate::app::desk_for_cli(rt).await?;
            match desk
                .audit()
                .verify()
                .await
                .context("reading the audit log")?
            {
                Verification::Intact(s) => {
                    println!("audit chain intact: {} entries, head {}", s.entries, s.head);
                    Ok(())
                }
                Verification::Broken { first, verified } => Err(Failure {
                    code: 1,
                    error: anyhow::anyhow!(
                        "audit chain broken at {first}; the {} entries before it verify \
                         (head {})",
                        verified.entries,
                        verified.head
                    ),
                }),
            }
        }
    }
}

async fn user(cmd: &UserCmd, rt: &Runtime) -> Result<(), Failure> {
    match cmd {
        UserCmd::Add {
            username,
            role,
            bidang,
            display_name,
            password_stdin,
        } => {
            let username = Username::parse(username).map_err(|e| usage(e.to_string()))?;
            let role: Role = role
                .parse()
                .map_err(|e: aduan_core::types::ParseError| usage(e.to_string()))?;
            let bidang = match (role, bidang) {
                (Role::Bidang, Some(b)) => {
                    let code = BidangCode::parse(b).map_err(|e| usage(e.to_string()))?;
                    if !rt.bidang.iter().any(|x| x.code == code) {
                        return Err(usage(format!(
                            "--bidang `{b}` is not configured; known: {}",
                            rt.bidang
                                .iter()
                                .map(|x| x.code.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                    Some(code)
                }
                (Role::Bidang, None) => return Err(usage("role bidang needs --bidang CODE")),
                (_, Some(_)) => return Err(usage("--bidang is only for role bidang")),
                (_, None) => None,
            };
            let password_hash = if *password_stdin {
                Some(password_from_stdin()?)
            } else {
                None
            };
            let desk = crate::app::desk_for_cli(rt).await?;
            let token = new_api_token();
            desk.accounts()
                .create(
                    &Actor::System,
                    NewUser {
                        username: username.clone(),
                        role,
                        bidang,
                        display_name: display_name.clone(),
                        token_hash: hash_secret(&token),
                        password_hash,
                        created_at: chrono::Utc::now(),
                    },
                )
                .await
                .map_err(|e| match e {
                    aduan_core::desk::DeskError::Store(
                        aduan_core::store::StoreError::AlreadyExists(_),
                    ) => usage(format!("user `{}` already exists", username.as_str())),
                    other => Failure::from(anyhow::Error::new(other)),
                })?;
            println!("created user {} with role {role}", username.as_str());
            println!("API token (shown once; keep it secret):");
            println!("{token}");
            Ok(())
        }
        UserCmd::List => {
            let desk = crate::app::desk_for_cli(rt).await?;
            let users = desk.accounts().list().await.context("listing users")?;
            println!(
                "{:<24} {:<8} {:<12} {:<8} display name",
                "username", "role", "bidang", "status"
            );
            for u in users {
                println!(
                    "{:<24} {:<8} {:<12} {:<8} {}",
                    u.username.as_str(),
                    u.role.as_str(),
                    u.bidang.as_ref().map(|b| b.as_str()).unwrap_or("-"),
                    if u.disabled { "disabled" } else { "active" },
                    u.display_name.unwrap_or_default()
                );
            }
            Ok(())
        }
        UserCmd::SetPassword {
            username,
            password_stdin,
        } => {
            let name = Username::parse(username).map_err(|e| usage(e.to_string()))?;
            if !*password_stdin {
                return Err(usage(
                    "give the new password on stdin with --password-stdin",
                ));
            }
            let hash = password_from_stdin()?;
            let desk = crate::app::desk_for_cli(rt).await?;
            if desk
                .accounts()
                .change_password(&Actor::System, &name, &hash)
                .await
                .context("changing the password")?
            {
                println!("password of {username} changed; its sessions are ended");
                Ok(())
            } else {
                Err(Failure {
                    code: 1,
                    error: anyhow::anyhow!("no user named `{username}`"),
                })
            }
        }
        UserCmd::Disable { username } => {
            let name = Username::parse(username).map_err(|e| usage(e.to_string()))?;
            let desk = crate::app::desk_for_cli(rt).await?;
            if desk
                .accounts()
                .disable(&Actor::System, &name)
                .await
                .context("disabling user")?
            {
                println!("user {username} disabled");
                Ok(())
            } else {
                Err(Failure {
                    code: 1,
                    error: anyhow::anyhow!("no user named `{username}`"),
                })
            }
        }
    }
}

/// A password read from stdin (one line, at least 8 characters), hashed.
fn password_from_stdin() -> Result<String, Failure> {
    let mut pw = String::new();
    std::io::stdin()
        .read_to_string(&mut pw)
        .context("reading the password from stdin")?;
    let pw = pw.trim_end_matches(['\r', '\n']);
    if pw.chars().count() < 8 {
        return Err(usage("the password must have at least 8 characters"));
    }
    hash_password(pw)
}

/// Argon2id hash in PHC string form.
pub fn hash_password(pw: &str) -> Result<String, Failure> {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(pw.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Failure::from(anyhow::anyhow!("hashing the password: {e}")))
}

/// SIGTERM and SIGINT, registered up front.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
