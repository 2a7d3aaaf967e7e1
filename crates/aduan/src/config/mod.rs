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
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (logged).
    pub listen: String,
    /// Public URL of this server, used in links sent to citizens.
    pub public_base_url: String,
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

/// Hide the password of `scheme://user:password@host/…`.
pub fn mask_url_password(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
        && let Some((user, _)) = creds.split_once(':')
    {
        return format!("{scheme}://{user}:********@{host}");
    }
    url.to_string()
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
        let mut st = s.serialize_struct("web", 4)?;
        st.serialize_field("enabled", &w.enabled)?;
        st.serialize_field("max_attachment_bytes", &w.max_attachment_bytes)?;
        st.serialize_field("max_attachments", &w.max_attachments)?;
        let rl = match w.rate_limit {
            None => "off".to_string(),
            Some(r) => format!("{}/{}", r.max, humantime::format_duration(r.per)),
        };
        st.serialize_field("rate_limit", &rl)?;
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
}
fn schedule() -> String {
    "0 0 7 1 * *".into()
}
impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            schedule: schedule(),
            recipients: vec![],
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
    for (k, v) in env {
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
    pub template_overrides: Vec<(String, String)>,
    pub digest_schedule: cron::Schedule,
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
        for (i, a) in s.escalate_to.iter().enumerate() {
            if let Err(e) = EmailAddress::parse(a) {
                errors.push(format!("`sla.escalate_to[{i}]`: {}", e.problem));
            }
        }
        for (i, a) in self.digest.recipients.iter().enumerate() {
            if let Err(e) = EmailAddress::parse(a) {
                errors.push(format!("`digest.recipients[{i}]`: {}", e.problem));
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
            template_overrides,
            digest_schedule,
            settings: self,
        })
    }
}

/// The effective configuration as TOML with secrets masked.
pub fn render_masked(s: &Settings) -> String {
    toml::to_string_pretty(s).unwrap_or_else(|e| format!("# cannot render: {e}"))
}

/// Load and validate in one go.
pub fn load_runtime(path: &Path) -> Result<Runtime, ConfigError> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    load(path, env)?.validate(path)
}
