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
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
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
    /// Disable an account (its token stops working).
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
    let store = aduan_store::connect(&rt.settings.database.url)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Cmd::CheckConfig => {
            let rt = load(&cli)?;
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
        Cmd::Export { month, format, out } => {
            let rt = load(&cli)?;
            let month = Month::parse(month).map_err(|e| usage(e.to_string()))?;
            let desk = crate::app::desk_for_cli(&rt).await?;
            let recs = desk
                .reports()
                .month_records(month)
                .await
                .context("reading complaints")?;
            let rows = logbook::rows(&recs, false);
            // Recorded in the audit log before anything is written out.
            let audit = desk.audit();
            let entry = audit
                .entry(&Actor::System, actions::LOGBOOK_EXPORT)
                .with_detail(serde_json::json!({
                    "month": month.to_string(),
                    "format": format,
                    "via": "cli",
                    "rows": rows.len(),
                }));
            if format == "xlsx" {
                let bytes =
                    aduan_digest::xlsx::logbook_xlsx(&rt.settings.office.name, month, &rows, rt.tz)
                        .map_err(|e| anyhow::anyhow!("building the workbook: {e}"))?;
                audit
                    .record(entry)
                    .await
                    .context("writing the export to the audit log")?;
                match out {
                    Some(p) => std::fs::write(p, bytes)
                        .with_context(|| format!("writing {}", p.display()))?,
                    None => {
                        use std::io::Write;
                        std::io::stdout()
                            .write_all(&bytes)
                            .context("writing to stdout")?;
                    }
                }
                return Ok(());
            }
            let text = match format.as_str() {
                "csv" => logbook::to_csv(&rows, rt.tz),
                "html" => {
                    aduan_admin::render_logbook_html(&rt.settings.office.name, month, &rows, rt.tz)
                        .map_err(|e| anyhow::anyhow!(e.message))?
                }
                _ => serde_json::to_string_pretty(&serde_json::json!({
                    "month": month.to_string(), "form": "FM-PDIP-03-02",
                    "columns": logbook::COLUMNS, "rows": rows,
                }))
                .context("json")?,
            };
            audit
                .record(entry)
                .await
                .context("writing the export to the audit log")?;
            match out {
                Some(p) => {
                    std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{text}"),
            }
            Ok(())
        }
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
                let mut pw = String::new();
                std::io::stdin()
                    .read_to_string(&mut pw)
                    .context("reading the password from stdin")?;
                let pw = pw.trim_end_matches(['\r', '\n']);
                if pw.chars().count() < 8 {
                    return Err(usage("the password must have at least 8 characters"));
                }
                Some(hash_password(pw)?)
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
