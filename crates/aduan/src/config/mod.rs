//! Layered configuration: the TOML file, then `ADUAN__SECTION__KEY` environment overrides,
//! deserialized with unknown keys refused, then validated into runtime values with every
//! problem reported at once, each naming its key. Holiday files: [`holidays`].

mod holidays;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use aduan_channel_email::EmailConfig;
pub use aduan_channel_meta::MetaConfig;
pub use aduan_channel_telegram::TelegramConfig;
use aduan_channel_web::WebConfig;
use aduan_core::calendar::{Interval, WorkCalendar};
use aduan_core::desk::BidangInfo;
use aduan_core::sla::{SlaDurations, SlaPolicy};
use aduan_core::types::{BidangCode, EmailAddress, TicketPrefix};
use serde::{Deserialize, Serialize, Serializer};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerConfig,
    #[serde(default)]
    pub privacy: PrivacyConfig,
    pub database: DatabaseConfig,
    pub office: OfficeConfig,
    #[serde(default)]
    pub bidang: Vec<BidangConfig>,
    #[serde(default)]
    pub calendar: CalendarConfig,
    #[serde(default)]
    pub sla: SlaConfig,
    #[serde(default)]
    pub channels: ChannelsConfig,
    #[serde(default)]
    pub digest: DigestConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (logged).
    pub listen: String,
    /// Public URL of this server, used in links sent to citizens.
    pub public_base_url: String,
    /// This process's name among replicas: the holder of the mailbox and Telegram-poller
    /// leases (env `ADUAN_REPLICA_ID` or `ADUAN__SERVER__REPLICA_ID`). Empty = unique per
    /// process (host name, process id and a random suffix), so two replicas on one host
    /// never share it.
    #[serde(default)]
    pub replica_id: String,
    /// A whole request, headers included (humantime); slower clients are cut off (408
    /// where an answer is still possible).
    #[serde(default = "request_timeout")]
    pub request_timeout: String,
    /// Connections open at once; more are closed at once.
    #[serde(default = "max_connections")]
    pub max_connections: usize,
    /// Reverse proxies (IPs or CIDRs) whose `X-Forwarded-For` names the client; empty =
    /// the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}
fn request_timeout() -> String {
    "30s".into()
}
fn max_connections() -> usize {
    aduan_http::server::DEFAULT_MAX_CONNECTIONS
}

/// `[privacy]`: the identity key ring (SPEC §2, §6).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// File holding the key ring (one base64 32-byte key per line, current first); created
    /// 0600 with a new key when absent. Relative paths are from the working directory.
    #[serde(default = "key_file")]
    pub key_file: String,
    /// The ring itself, base64 keys separated by commas (env `ADUAN__PRIVACY__KEY`); when
    /// set, `key_file` is not used.
    #[serde(default)]
    pub key: Option<String>,
}
fn key_file() -> String {
    "data/identity.key".into()
}
impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            key_file: key_file(),
            key: None,
        }
    }
}
impl Serialize for PrivacyConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PrivacyConfig", 2)?;
        st.serialize_field("key_file", &self.key_file)?;
        if self.key.is_some() {
            st.serialize_field("key", "***")?;
        }
        st.end()
    }
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path` (embedded default) or `postgres://user@host/db`.
    pub url: String,
}
impl Serialize for DatabaseConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("DatabaseConfig", 1)?;
        st.serialize_field("url", &mask_url_password(&self.url))?;
        st.end()
    }
}

/// What a masked secret prints as.
pub const MASK: &str = "********";

/// A database URL without its secrets: the password of `scheme://user:password@host/…`
/// (an `@` in it, percent-encoded or not, included: the user information ends at the last
/// `@` of the authority) and the value of any query parameter that looks secret
/// (`password=`, `sslpassword=`, anything with `pass`, `secret`, `token` or `pwd` in its
/// name). When in doubt, more is masked rather than less.
pub fn mask_url_password(url: &str) -> String {
    let (head, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    // The user information ends at the last `@` before the query; without one there, at
    // the last `@` at all (a password with `?` or `/` in it).
    let before_query = rest.find('?').map_or(rest, |q| &rest[..q]);
    let at = before_query.rfind('@').or_else(|| rest.rfind('@'));
    let rest = match at {
        Some(at) if rest[..at].contains(':') => {
            let (user, _) = rest[..at].split_once(':').unwrap_or((&rest[..at], ""));
            format!("{user}:{MASK}{}", &rest[at..])
        }
        _ => rest.to_string(),
    };
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) if secret_name(k) && !v.is_empty() => format!("{k}={MASK}"),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => rest,
    };
    format!("{head}{rest}")
}

/// Whether a configuration key or URL parameter names a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let n = n.trim();
    ["pass", "secret", "token", "pwd", "credential", "private"]
        .iter()
        .any(|w| n.contains(w))
        || n == "key"
        || n.ends_with("_key")
        || n.ends_with("apikey")
}

/// `[office]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OfficeConfig {
    /// Office name, used in citizen-facing texts and the logbook header.
    pub name: String,
    /// IANA time zone of the office (Buleleng: Asia/Makassar).
    pub timezone: String,
    /// Ticket prefix, e.g. `ADU` → `ADU-202603-0001`.
    pub ticket_prefix: String,
    /// Folder with reply templates overriding the built-in ones (`ack.txt`, `answer.txt`, …).
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
}

/// `[[bidang]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BidangConfig {
    pub code: String,
    pub name: String,
    /// Words that suggest routing a complaint to this bidang.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// `[calendar]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// false = SLA clocks run 24/7.
    #[serde(default = "yes")]
    pub business_hours: bool,
    pub mon: Option<Vec<String>>,
    pub tue: Option<Vec<String>>,
    pub wed: Option<Vec<String>>,
    pub thu: Option<Vec<String>>,
    pub fri: Option<Vec<String>>,
    pub sat: Option<Vec<String>>,
    pub sun: Option<Vec<String>>,
    /// Holiday file(s): one path or a list (one file a year).
    #[serde(default)]
    pub holidays: Option<OneOrMany>,
    /// Which holiday kinds close the office (default: all).
    #[serde(default)]
    pub holiday_kinds: Option<Vec<String>>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn yes() -> bool {
    true
}

impl Default for CalendarConfig {
    /// Buleleng hours under Perbup 56/2025.
    fn default() -> Self {
        let mt = Some(vec!["07:30-12:00".into(), "12:45-16:00".into()]);
        CalendarConfig {
            business_hours: true,
            mon: mt.clone(),
            tue: mt.clone(),
            wed: mt.clone(),
            thu: mt,
            fri: Some(vec!["07:00-11:00".into(), "11:30-14:00".into()]),
            sat: None,
            sun: None,
            holidays: None,
            holiday_kinds: None,
        }
    }
}

/// `[sla]`: standard time per SOP step (humantime), and who hears of breaches.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    #[serde(default = "d10m")]
    pub receive: String,
    #[serde(default = "d5m")]
    pub triage: String,
    #[serde(default = "d1h")]
    pub resolve: String,
    #[serde(default = "d15m")]
    pub review: String,
    #[serde(default = "d20m")]
    pub follow_up: String,
    #[serde(default = "d1h")]
    pub report_decide: String,
    #[serde(default = "d5m")]
    pub report_receive: String,
    #[serde(default)]
    pub escalate_to: Vec<String>,
    /// Working days a question to the citizen waits for the answer before the complaint
    /// closes `tidak` (SPEC §3), 1 to [`MAX_WAIT_CITIZEN_DAYS`].
    #[serde(default = "d_wait_citizen")]
    pub wait_citizen_days: i64,
}
/// Longest wait for a citizen's answer, in working days (about a year).
pub const MAX_WAIT_CITIZEN_DAYS: i64 = 260;
fn d_wait_citizen() -> i64 {
    i64::from(aduan_core::sla::DEFAULT_WAIT_CITIZEN_DAYS)
}
fn d10m() -> String {
    "10m".into()
}
fn d5m() -> String {
    "5m".into()
}
fn d1h() -> String {
    "1h".into()
}
fn d15m() -> String {
    "15m".into()
}
fn d20m() -> String {
    "20m".into()
}
impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            receive: d10m(),
            triage: d5m(),
            resolve: d1h(),
            review: d15m(),
            follow_up: d20m(),
            report_decide: d1h(),
            report_receive: d5m(),
            escalate_to: vec![],
            wait_citizen_days: d_wait_citizen(),
        }
    }
}

/// `[channels.*]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    #[serde(default)]
    pub email: EmailConfig,
    #[serde(default)]
    pub telegram: TelegramConfig,
    #[serde(default)]
    pub meta: MetaConfig,
    #[serde(default)]
    pub web: WebSection,
}

/// `[channels.web]` (the web channel's own config, printable).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct WebSection(pub WebConfig);
impl Serialize for WebSection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let w = &self.0;
        let mut st = s.serialize_struct("web", 7)?;
        st.serialize_field("enabled", &w.enabled)?;
        st.serialize_field("max_attachment_bytes", &w.max_attachment_bytes)?;
        st.serialize_field("max_attachments", &w.max_attachments)?;
        let rl = |r: Option<aduan_channel_web::RateLimit>| match r {
            None => "off".to_string(),
            // In the loader's own units, so that the printed configuration loads again.
            Some(r) => match r.per.as_secs() {
                1 => format!("{}/second", r.max),
                60 => format!("{}/minute", r.max),
                3600 => format!("{}/hour", r.max),
                86_400 => format!("{}/day", r.max),
                _ => format!("{}/{}", r.max, humantime::format_duration(r.per)),
            },
        };
        st.serialize_field("rate_limit", &rl(w.rate_limit))?;
        st.serialize_field("status_rate_limit", &rl(w.status_rate_limit))?;
        st.serialize_field("message_rate_limit", &rl(w.message_rate_limit))?;
        st.serialize_field("rating_rate_limit", &rl(w.rating_rate_limit))?;
        st.end()
    }
}

/// `[digest]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// Cron with seconds, in the office time zone.
    #[serde(default = "schedule")]
    pub schedule: String,
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The ISO coordinator(s): they get the Kasi's conclusion with its risk register (SOP
    /// step 6), beside the digest recipients.
    #[serde(default)]
    pub iso_recipients: Vec<String>,
}
fn schedule() -> String {
    "0 0 7 1 * *".into()
}
impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            schedule: schedule(),
            recipients: vec![],
            iso_recipients: vec![],
        }
    }
}

/// Configuration problems, all of them.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}
impl std::error::Error for ConfigError {}

/// The environment variable that names this replica (SPEC §2), besides
/// `ADUAN__SERVER__REPLICA_ID`.
pub const REPLICA_ID_ENV: &str = "ADUAN_REPLICA_ID";

/// Longest replica id accepted.
const MAX_REPLICA_ID: usize = 128;

/// A replica id unique to this process: host name, process id and a random suffix.
pub fn generated_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.trim().is_empty())
        })
        .unwrap_or_else(|| "aduan".into());
    let host: String = host.chars().take(64).collect();
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Read the file, apply `ADUAN__…` overrides from `env`, deserialize.
pub fn load(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(vec![format!("{}: cannot read: {e}", path.display())]))?;
    let mut root: toml::Table =
        toml::from_str(&text).map_err(|e| ConfigError(vec![format!("{}: {e}", path.display())]))?;
    let mut errors = Vec::new();
    // `ADUAN_REPLICA_ID` (SPEC §2) names `server.replica_id`; `ADUAN__SERVER__REPLICA_ID`,
    // applied after it, wins when both are set.
    let mut env: Vec<(String, String)> = env.into_iter().collect();
    env.sort_by_key(|(k, _)| k != REPLICA_ID_ENV);
    for (k, v) in env {
        if k == REPLICA_ID_ENV {
            if !v.trim().is_empty() {
                match root
                    .entry("server")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                {
                    Some(t) => {
                        t.insert("replica_id".into(), toml::Value::String(v));
                    }
                    None => errors.push(format!("{k}: `server` is not a section")),
                }
            }
            continue;
        }
        let Some(rest) = k.strip_prefix("ADUAN__") else {
            continue;
        };
        let keys: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if keys.iter().any(|k| k.is_empty()) {
            errors.push(format!("{k}: empty key segment"));
            continue;
        }
        if let Err(e) = set_path(&mut root, &keys, &v) {
            errors.push(format!("{k}: {e}"));
        }
    }
    if !errors.is_empty() {
        return Err(ConfigError(errors));
    }
    let value = toml::Value::Table(root);
    serde_path_to_error::deserialize::<_, Settings>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let inner = inner.trim().trim_end_matches('\n').to_string();
        if path == "." || path.is_empty() {
            ConfigError(vec![inner])
        } else {
            ConfigError(vec![format!("`{path}`: {inner}")])
        }
    })
}

/// Set `keys` in `root` to `raw`, typed like the value it replaces (a bool stays a bool,
/// an array stays an array); new keys are guessed (true/false, integers, arrays), else text.
fn set_path(root: &mut toml::Table, keys: &[String], raw: &str) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("no key")?;
    let mut t = root;
    for p in parents {
        let entry = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is not a section"))?;
    }
    let parse = |raw: &str| -> Option<toml::Value> {
        toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
    };
    let value = match t.get(last) {
        Some(toml::Value::String(_)) => toml::Value::String(raw.to_string()),
        Some(_) => parse(raw).ok_or_else(|| format!("`{raw}` is not a valid TOML value"))?,
        None => match parse(raw) {
            Some(
                v @ (toml::Value::Boolean(_) | toml::Value::Integer(_) | toml::Value::Array(_)),
            ) => v,
            _ => toml::Value::String(raw.to_string()),
        },
    };
    t.insert(last.clone(), value);
    Ok(())
}

/// Validated runtime values.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub settings: Settings,
    pub listen: SocketAddr,
    pub tz: chrono_tz::Tz,
    pub prefix: TicketPrefix,
    pub bidang: Vec<BidangInfo>,
    pub policy: SlaPolicy,
    pub web: WebConfig,
    /// `[server]` bounds: request timeout, connection limit, trusted proxies.
    pub server: aduan_http::server::ServerLimits,
    pub template_overrides: Vec<(String, String)>,
    pub digest_schedule: cron::Schedule,
    /// This replica's id: `server.replica_id`, or generated for this process when empty.
    pub replica_id: String,
    /// Whether [`Runtime::replica_id`] was generated (not configured).
    pub replica_id_generated: bool,
}

fn duration(key: &str, s: &str, errors: &mut Vec<String>) -> chrono::Duration {
    match humantime::parse_duration(s) {
        Ok(d) if !d.is_zero() => chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX),
        Ok(_) => {
            errors.push(format!("`{key}`: must be longer than zero"));
            chrono::Duration::zero()
        }
        Err(e) => {
            errors.push(format!(
                "`{key}`: `{s}` is not a duration ({e}); e.g. \"10m\", \"1h\""
            ));
            chrono::Duration::zero()
        }
    }
}

impl Settings {
    /// Validate everything, reporting every problem.
    pub fn validate(self, config_path: &Path) -> Result<Runtime, ConfigError> {
        let mut errors = Vec::new();
        let base = config_path.parent().unwrap_or(Path::new("."));
        let listen = SocketAddr::from_str(&self.server.listen).unwrap_or_else(|e| {
            errors.push(format!(
                "`server.listen`: `{}` is not HOST:PORT ({e})",
                self.server.listen
            ));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let request_timeout = match humantime::parse_duration(&self.server.request_timeout) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                errors.push(format!(
                    "`server.request_timeout`: `{}` is not a duration longer than zero (e.g. \"30s\")",
                    self.server.request_timeout
                ));
                aduan_http::server::DEFAULT_REQUEST_TIMEOUT
            }
        };
        let configured_id = self.server.replica_id.trim();
        if configured_id.len() > MAX_REPLICA_ID
            || configured_id
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            errors.push(format!(
                "`server.replica_id`: must be at most {MAX_REPLICA_ID} bytes without spaces or \
                 control characters (empty = unique per process)"
            ));
        }
        let (replica_id, replica_id_generated) = if configured_id.is_empty() {
            (generated_replica_id(), true)
        } else {
            (configured_id.to_string(), false)
        };
        if self.server.max_connections == 0 {
            errors.push("`server.max_connections`: must be at least 1".into());
        }
        let trusted_proxies = aduan_http::client::TrustedProxies::parse(
            &self.server.trusted_proxies,
        )
        .unwrap_or_else(|e| {
            errors.extend(
                e.into_iter()
                    .map(|e| format!("`server.trusted_proxies`: {e}")),
            );
            Default::default()
        });
        let server = aduan_http::server::ServerLimits {
            request_timeout,
            max_connections: self.server.max_connections.max(1),
            trusted_proxies,
        };
        if let Some(k) = self.privacy.key.as_deref().filter(|k| !k.trim().is_empty())
            && let Err(e) = aduan_store::KeyRing::parse(k)
        {
            errors.push(format!("`privacy.key` (ADUAN__PRIVACY__KEY): {e}"));
        }
        if self.privacy.key_file.trim().is_empty() {
            errors.push("`privacy.key_file`: must name a file".into());
        }
        if !(self.server.public_base_url.starts_with("http://")
            || self.server.public_base_url.starts_with("https://"))
        {
            errors.push("`server.public_base_url`: must start with http:// or https://".into());
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            errors.push(format!(
                "`database.url`: `{}` must start with sqlite:, postgres:// or postgresql://",
                mask_url_password(&self.database.url)
            ));
        }
        let tz = self
            .office
            .timezone
            .parse::<chrono_tz::Tz>()
            .unwrap_or_else(|_| {
                errors.push(format!(
                    "`office.timezone`: `{}` is not an IANA time zone (e.g. Asia/Makassar)",
                    self.office.timezone
                ));
                chrono_tz::Asia::Makassar
            });
        let prefix = TicketPrefix::parse(&self.office.ticket_prefix).unwrap_or_else(|e| {
            errors.push(format!("`office.ticket_prefix`: {}", e.problem));
            TicketPrefix::parse("ADU").expect("static")
        });
        if self.office.name.trim().is_empty() {
            errors.push("`office.name`: must not be empty".into());
        }
        let mut bidang = Vec::new();
        let mut seen = HashSet::new();
        for (i, b) in self.bidang.iter().enumerate() {
            match BidangCode::parse(&b.code) {
                Ok(code) => {
                    if !seen.insert(code.clone()) {
                        errors.push(format!("`bidang[{i}].code`: `{}` appears twice", b.code));
                    }
                    bidang.push(BidangInfo {
                        code,
                        name: b.name.clone(),
                        keywords: b.keywords.clone(),
                    });
                }
                Err(e) => errors.push(format!("`bidang[{i}].code`: {}", e.problem)),
            }
        }
        // Calendar.
        let c = &self.calendar;
        let days = [&c.mon, &c.tue, &c.wed, &c.thu, &c.fri, &c.sat, &c.sun];
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let mut week: [Vec<Interval>; 7] = Default::default();
        for (i, d) in days.iter().enumerate() {
            for s in d.iter().flatten() {
                match Interval::parse(s) {
                    Ok(iv) => week[i].push(iv),
                    Err(e) => errors.push(format!("`calendar.{}`: {}", names[i], e.problem)),
                }
            }
        }
        let kinds: Option<HashSet<&str>> = c
            .holiday_kinds
            .as_ref()
            .map(|k| k.iter().map(String::as_str).collect());
        let (closed, known_years) =
            holidays::load(base, c.holidays.as_ref(), kinds.as_ref(), &mut errors);
        let calendar = WorkCalendar::new(tz, c.business_hours, week, closed)
            .map(|cal| cal.with_known_years(known_years))
            .unwrap_or_else(|e| {
                errors.push(format!("`calendar`: {}", e.problem));
                WorkCalendar::always_open(tz)
            });
        let s = &self.sla;
        let durations = SlaDurations {
            receive: duration("sla.receive", &s.receive, &mut errors),
            triage: duration("sla.triage", &s.triage, &mut errors),
            resolve: duration("sla.resolve", &s.resolve, &mut errors),
            review: duration("sla.review", &s.review, &mut errors),
            follow_up: duration("sla.follow_up", &s.follow_up, &mut errors),
            report_decide: duration("sla.report_decide", &s.report_decide, &mut errors),
            report_receive: duration("sla.report_receive", &s.report_receive, &mut errors),
        };
        let wait_citizen_days = match u32::try_from(s.wait_citizen_days) {
            Ok(d) if (1..=MAX_WAIT_CITIZEN_DAYS).contains(&s.wait_citizen_days) => d,
            _ => {
                errors.push(format!(
                    "`sla.wait_citizen_days`: {} is not a number of working days from 1 to \
                     {MAX_WAIT_CITIZEN_DAYS}",
                    s.wait_citizen_days
                ));
                aduan_core::sla::DEFAULT_WAIT_CITIZEN_DAYS
            }
        };
        let _ = duration("outbox.retry_for", &self.outbox.retry_for, &mut errors);
        for (i, a) in s.escalate_to.iter().enumerate() {
            if let Err(e) = EmailAddress::parse(a) {
                errors.push(format!("`sla.escalate_to[{i}]`: {}", e.problem));
            }
        }
        for (key, list) in [
            ("recipients", &self.digest.recipients),
            ("iso_recipients", &self.digest.iso_recipients),
        ] {
            for (i, a) in list.iter().enumerate() {
                if let Err(e) = EmailAddress::parse(a) {
                    errors.push(format!("`digest.{key}[{i}]`: {}", e.problem));
                }
            }
        }
        let digest_schedule = cron::Schedule::from_str(&self.digest.schedule).unwrap_or_else(|e| {
            errors.push(format!(
                "`digest.schedule`: `{}` is not a cron expression with seconds ({e})",
                self.digest.schedule
            ));
            cron::Schedule::from_str("0 0 7 1 * *").expect("static")
        });
        // Channels that this build does not carry yet must stay disabled.
        errors.extend(self.channels.email.validate());
        if self.channels.meta.enabled {
            errors.extend(self.channels.meta.problems());
        }
        if let Err(e) = self.channels.telegram.validate() {
            errors.push(e);
        }
        // Reply template overrides.
        let mut template_overrides = Vec::new();
        if let Some(dir) = &self.office.templates_dir {
            let dir = holidays::resolve(base, dir);
            for name in aduan_core::templates::TEMPLATE_NAMES {
                let p = dir.join(format!("{name}.txt"));
                if let Ok(src) = std::fs::read_to_string(&p) {
                    template_overrides.push((name.to_string(), src));
                }
            }
            if !dir.is_dir() {
                errors.push(format!(
                    "`office.templates_dir`: {} is not a folder",
                    dir.display()
                ));
            }
        }
        if let Err(e) = aduan_core::templates::Templates::new(template_overrides.clone()) {
            errors.push(format!("`office.templates_dir`: {e}"));
        }
        if !errors.is_empty() {
            return Err(ConfigError(errors));
        }
        Ok(Runtime {
            listen,
            tz,
            prefix,
            bidang,
            policy: SlaPolicy::new(calendar, durations).with_wait_citizen_days(wait_citizen_days),
            web: self.channels.web.0.clone(),
            server,
            template_overrides,
            digest_schedule,
            replica_id,
            replica_id_generated,
            settings: self,
        })
    }
}

/// The effective configuration as TOML with secrets masked: each section masks its own
/// (the database URL's password, the channels' tokens), and then every key that looks
/// secret ([`secret_name`]) is masked again, whatever section it is in, and every value
/// that looks like a URL loses its password — so a new secret key is masked even before
/// its section knows it is one.
pub fn render_masked(s: &Settings) -> String {
    let value = match toml::Value::try_from(s) {
        Ok(mut v) => {
            mask_secrets(&mut v, None);
            v
        }
        Err(e) => return format!("# cannot render: {e}"),
    };
    toml::to_string_pretty(&value).unwrap_or_else(|e| format!("# cannot render: {e}"))
}

fn mask_secrets(v: &mut toml::Value, key: Option<&str>) {
    match v {
        toml::Value::String(s) => {
            if key.is_some_and(secret_name) && !s.is_empty() {
                *s = MASK.to_string();
            } else if s.contains("://") {
                *s = mask_url_password(s);
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(|x| mask_secrets(x, key)),
        toml::Value::Table(t) => t
            .iter_mut()
            .for_each(|(k, x)| mask_secrets(x, Some(k.as_str()))),
        _ => {}
    }
}

/// Load and validate in one go.
pub fn load_runtime(path: &Path) -> Result<Runtime, ConfigError> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    load(path, env)?.validate(path)
}

/// `[outbox]` (SPEC §2): how long a reply is retried before it is shown to staff as failed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Keep retrying a reply this long after it was queued (humantime, default `48h`): a
    /// day-long outage, such as Nyepi's internet shutdown, loses nothing.
    #[serde(default = "d48h")]
    pub retry_for: String,
}
impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { retry_for: d48h() }
    }
}
fn d48h() -> String {
    "48h".into()
}
impl OutboxConfig {
    /// `retry_for` as a duration (validated by [`Settings::validate`]; the default if not).
    pub fn retry_for(&self) -> chrono::Duration {
        humantime::parse_duration(&self.retry_for)
            .ok()
            .filter(|d| !d.is_zero())
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .unwrap_or(aduan_core::outbox::DEFAULT_RETRY_FOR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_never_printed() {
        for (url, secret, keep) in [
            (
                "postgres://u:p@ss@db.example/aduan",
                "p@ss",
                "postgres://u:********@db.example/aduan",
            ),
            (
                "postgres://u:p%40ss@db.example/aduan",
                "p%40ss",
                "postgres://u:********@db.example/aduan",
            ),
            (
                "postgresql://aduan:s3cr3t@10.0.0.5:5432/aduan?sslmode=require",
                "s3cr3t",
                "postgresql://aduan:********@10.0.0.5:5432/aduan?sslmode=require",
            ),
            (
                "postgres://aduan@db.example/aduan?password=hunter2&sslmode=require",
                "hunter2",
                "postgres://aduan@db.example/aduan?password=********&sslmode=require",
            ),
            (
                "postgres://db.example/aduan?user=aduan&sslpassword=kunci&sslcert=/etc/c.pem",
                "kunci",
                "postgres://db.example/aduan?user=aduan&sslpassword=********&sslcert=/etc/c.pem",
            ),
            (
                "postgres://u:a:b@c@host/db?PASSWORD=x@y",
                "a:b@c",
                "postgres://u:********@host/db?PASSWORD=********",
            ),
            (
                "postgres://u:p/w?x@host/db",
                "p/w?x",
                "postgres://u:********@host/db",
            ),
            (
                "postgres://u:pw@host/db?application_name=a@b",
                "pw",
                "postgres://u:********@host/db?application_name=a@b",
            ),
        ] {
            let m = mask_url_password(url);
            assert!(!m.contains(secret), "{url} -> {m}");
            assert_eq!(m, keep, "{url}");
        }
        // Nothing to hide: unchanged.
        for url in [
            "sqlite://data/aduan.db",
            "postgres://aduan@db/aduan",
            "postgres://db/aduan?sslmode=require",
        ] {
            assert_eq!(mask_url_password(url), url);
        }
    }

    #[test]
    fn the_replica_id_comes_from_the_file_or_either_variable_else_is_unique_per_process() {
        let text = r#"
[server]
listen = "127.0.0.1:0"
public_base_url = "http://127.0.0.1:8080"
[database]
url = "sqlite://data/aduan.db"
[office]
name = "Disdukcapil"
timezone = "Asia/Makassar"
ticket_prefix = "ADU"
"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aduan.toml");
        std::fs::write(&path, text).unwrap();
        let rt = |env: &[(&str, &str)]| {
            load(
                &path,
                env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            )
            .unwrap()
            .validate(&path)
            .unwrap()
        };
        let a = rt(&[]);
        let b = rt(&[]);
        assert!(a.replica_id_generated && b.replica_id_generated);
        assert_ne!(
            a.replica_id, b.replica_id,
            "unique per process (and per start)"
        );
        let pid = format!("-{}-", std::process::id());
        assert!(a.replica_id.contains(&pid), "{}", a.replica_id);
        let c = rt(&[("ADUAN_REPLICA_ID", "replika-1")]);
        assert_eq!(c.replica_id, "replika-1");
        assert!(!c.replica_id_generated);
        let d = rt(&[
            ("ADUAN__SERVER__REPLICA_ID", "replika-2"),
            ("ADUAN_REPLICA_ID", "replika-1"),
        ]);
        assert_eq!(d.replica_id, "replika-2", "the ADUAN__ variable wins");
        // An integer-looking id stays text.
        assert_eq!(rt(&[("ADUAN_REPLICA_ID", "7")]).replica_id, "7");
        assert!(
            load(&path, [("ADUAN_REPLICA_ID".to_string(), "a b".to_string())])
                .unwrap()
                .validate(&path)
                .is_err(),
            "spaces are refused"
        );
    }

    #[test]
    fn check_config_masks_every_secret_looking_key() {
        let text = r#"
[server]
listen = "127.0.0.1:0"
public_base_url = "http://127.0.0.1:8080"
[database]
url = "postgres://aduan:p@ss@db/aduan?sslpassword=kunci"
[office]
name = "Disdukcapil"
timezone = "Asia/Makassar"
ticket_prefix = "ADU"
[channels.email]
password = "mail-secret"
smtp_password = "smtp-secret"
[channels.telegram]
token = "123:bot-secret"
webhook_secret = "hook-secret"
[channels.meta]
app_secret = "meta-secret"
verify_token = "verify-secret"
page_access_token = "page-secret"
"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aduan.toml");
        std::fs::write(&path, text).unwrap();
        let s = load(
            &path,
            [(
                "ADUAN__PRIVACY__KEY".to_string(),
                "a2V5LXNlY3JldA==".to_string(),
            )],
        )
        .unwrap();
        let out = render_masked(&s);
        for secret in [
            "p@ss",
            "ss@db",
            "kunci",
            "mail-secret",
            "smtp-secret",
            "bot-secret",
            "hook-secret",
            "meta-secret",
            "verify-secret",
            "page-secret",
            "a2V5LXNlY3JldA",
        ] {
            assert!(!out.contains(secret), "{secret} printed:\n{out}");
        }
        assert!(out.contains("postgres://aduan:********@db/aduan"), "{out}");
        assert!(out.contains("request_timeout = \"30s\""), "{out}");
        // Not secrets: shown.
        assert!(out.contains("key_file"), "{out}");
        assert!(out.contains("Disdukcapil"), "{out}");
        assert!(secret_name("sslpassword") && secret_name("api_key"));
        assert!(!secret_name("key_file") && !secret_name("keywords"));
    }
}
