//! Parsed domain values. Each type has private fields and is built by `parse`/`TryFrom`,
//! so a value that exists is valid ("parse, don't validate").

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct ParseError {
    /// Which kind of value was being parsed (e.g. "ticket number").
    pub what: &'static str,
    /// What was wrong with it.
    pub problem: String,
}

impl ParseError {
    pub fn new(what: &'static str, problem: impl Into<String>) -> Self {
        Self {
            what,
            problem: problem.into(),
        }
    }
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $var),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The stable wire/storage name.
            pub fn as_str(self) -> &'static str { match self { $($name::$var => $s),+ } }
        }
        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                // The value is not echoed: it may be what a citizen typed (a name).
                match s { $($s => Ok($name::$var),)+ _ => Err(ParseError::new($what, format!(
                    "unknown value; expected one of: {}",
                    [$($s),+].join(", ")))) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

string_enum!(
    /// The channel a complaint arrived on.
    Channel, "channel" {
        Email = "email", Telegram = "telegram", Messenger = "messenger", Instagram = "instagram",
        Whatsapp = "whatsapp", Web = "web", Phone = "phone", Letter = "letter", Fax = "fax",
        WalkIn = "walk_in",
    }
);

impl Channel {
    /// Manual channels are typed in by staff; nothing is sent back on them.
    pub fn is_manual(self) -> bool {
        matches!(
            self,
            Channel::Phone | Channel::Letter | Channel::Fax | Channel::WalkIn
        )
    }
    /// Chat platforms: replies are chat messages, a rating is a number sent back.
    pub fn is_chat(self) -> bool {
        matches!(
            self,
            Channel::Telegram | Channel::Messenger | Channel::Instagram | Channel::Whatsapp
        )
    }
    /// The "Sumber" wording used in the logbook FM-PDIP-03-02.
    pub fn source_label(self) -> &'static str {
        match self {
            Channel::Email => "E-mail",
            Channel::Telegram => "Media sosial (Telegram)",
            Channel::Messenger => "Media sosial (Facebook Messenger)",
            Channel::Instagram => "Media sosial (Instagram)",
            Channel::Whatsapp => "Media sosial (WhatsApp)",
            Channel::Web => "Website (formulir)",
            Channel::Phone => "Telepon",
            Channel::Letter => "Surat",
            Channel::Fax => "Faks",
            Channel::WalkIn => "Datang langsung",
        }
    }
}

string_enum!(
    /// Complaint category: the four boxes of form FM-PDIP-03-01.
    Category, "category" {
        PerilakuPegawai = "perilaku_pegawai", SaranaPrasarana = "sarana_prasarana",
        Pelayanan = "pelayanan", LainLain = "lain_lain",
    }
);

impl Category {
    /// Indonesian label as printed on the form.
    pub fn label(self) -> &'static str {
        match self {
            Category::PerilakuPegawai => "Perilaku Pegawai",
            Category::SaranaPrasarana => "Sarana Prasarana",
            Category::Pelayanan => "Pelayanan",
            Category::LainLain => "Lain-lain",
        }
    }
}

string_enum!(
    /// Staff roles, one per SOP actor.
    Role, "role" {
        /// Staf Kerjasama: logs complaints, sends the follow-up.
        Staf = "staf",
        /// Kasi Kerjasama: triage, routing, review, monthly conclusion.
        Kasi = "kasi",
        /// A division (bidang) user; belongs to exactly one bidang.
        Bidang = "bidang",
        /// Kabid PDIP: initials (paraf) logbook lines.
        Kabid = "kabid",
        /// Kepala Dinas: receives the monthly report and decides.
        Kadis = "kadis",
    }
);

string_enum!(
    /// Workflow state of a complaint (SPEC §3).
    State, "state" {
        Received = "received", Triage = "triage", InBidang = "in_bidang", Review = "review",
        FollowUp = "follow_up",
        /// A question went to the citizen (`ask`): the asking step's clock is paused.
        WaitingCitizen = "waiting_citizen",
        Closed = "closed",
    }
);

string_enum!(
    /// The logbook's Status column.
    Resolution, "status" { Selesai = "selesai", Tidak = "tidak" }
);

string_enum!(
    /// An SOP step with a standard time (the SLA clock names of `[sla]`).
    Step, "step" {
        Receive = "receive", Triage = "triage", Resolve = "resolve", Review = "review",
        FollowUp = "follow_up", ReportDecide = "report_decide", ReportReceive = "report_receive",
    }
);

impl Step {
    /// SOP step number (1-8; the monthly conclusion, step 6, has no per-complaint clock).
    pub fn number(self) -> u8 {
        match self {
            Step::Receive => 1,
            Step::Triage => 2,
            Step::Resolve => 3,
            Step::Review => 4,
            Step::FollowUp => 5,
            Step::ReportDecide => 7,
            Step::ReportReceive => 8,
        }
    }
}

impl State {
    /// The SOP step whose clock runs while a complaint is in this state.
    pub fn step(self) -> Option<Step> {
        match self {
            State::Received => Some(Step::Receive),
            State::Triage => Some(Step::Triage),
            State::InBidang => Some(Step::Resolve),
            State::Review => Some(Step::Review),
            State::FollowUp => Some(Step::FollowUp),
            // Paused: the asking step keeps its remaining working time.
            State::WaitingCitizen => None,
            State::Closed => None,
        }
    }
}

/// Ticket number `{PREFIX}-{YYYYMM}-{NNNN}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketNumber(String);

impl TicketNumber {
    /// Build a ticket number from its parts; `seq` is padded to at least four digits.
    pub fn new(prefix: &TicketPrefix, year: i32, month: u32, seq: u64) -> Self {
        TicketNumber(format!("{}-{:04}{:02}-{:04}", prefix.0, year, month, seq))
    }
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let err = |p: &str| ParseError::new("ticket number", p.to_string());
        let mut parts = s.rsplitn(3, '-');
        let seq = parts.next().ok_or_else(|| err("empty"))?;
        let ym = parts
            .next()
            .ok_or_else(|| err("expected PREFIX-YYYYMM-NNNN"))?;
        let prefix = parts
            .next()
            .ok_or_else(|| err("expected PREFIX-YYYYMM-NNNN"))?;
        TicketPrefix::parse(prefix)?;
        if ym.len() != 6 || !ym.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("month part must be YYYYMM"));
        }
        let month: u32 = ym[4..].parse().map_err(|_| err("bad month"))?;
        if !(1..=12).contains(&month) {
            return Err(err("month out of range"));
        }
        if seq.len() < 4 || seq.len() > 12 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("sequence must be at least four digits"));
        }
        Ok(TicketNumber(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for TicketNumber {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<TicketNumber> for String {
    fn from(t: TicketNumber) -> String {
        t.0
    }
}
impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The office's ticket prefix: 1-10 uppercase ASCII letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketPrefix(String);
impl TicketPrefix {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty()
            || s.len() > 10
            || !s
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(ParseError::new(
                "ticket prefix",
                "must be 1-10 uppercase letters or digits",
            ));
        }
        Ok(TicketPrefix(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for TicketPrefix {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<TicketPrefix> for String {
    fn from(t: TicketPrefix) -> String {
        t.0
    }
}

/// A syntactically valid e-mail address (`local@domain`), trimmed, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);
impl EmailAddress {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        let err = |p: &str| ParseError::new("e-mail address", p.to_string());
        if s.len() > 254 {
            return Err(err("longer than 254 characters"));
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(|| err("missing @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(err("bad local part"));
        }
        if domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || !domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        {
            return Err(err("bad domain"));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c))
        {
            return Err(err("bad character in local part"));
        }
        Ok(EmailAddress(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for EmailAddress {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<EmailAddress> for String {
    fn from(t: EmailAddress) -> String {
        t.0
    }
}

/// A phone number: digits with an optional leading `+`, 6-16 digits once spaces, dashes,
/// dots and parentheses are removed. Stored normalized (`+62…` kept, local `08…` kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);
impl PhoneNumber {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        let mut out = String::with_capacity(s.len());
        for (i, c) in s.chars().enumerate() {
            match c {
                '+' if i == 0 => out.push('+'),
                '0'..='9' => out.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(ParseError::new(
                        "phone number",
                        format!("unexpected character `{c}`"),
                    ));
                }
            }
        }
        let digits = out.trim_start_matches('+').len();
        if !(6..=16).contains(&digits) {
            return Err(ParseError::new("phone number", "must have 6 to 16 digits"));
        }
        Ok(PhoneNumber(out))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for PhoneNumber {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<PhoneNumber> for String {
    fn from(t: PhoneNumber) -> String {
        t.0
    }
}

/// Nomor Induk Kependudukan: exactly 16 digits, starting with a plausible province code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nik(String);
impl Nik {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = s.trim();
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new("NIK", "must be exactly 16 digits"));
        }
        if s.starts_with('0') {
            return Err(ParseError::new("NIK", "province code cannot start with 0"));
        }
        Ok(Nik(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bidang (division) code from config: lowercase letters, digits, `_` or `-`, 1-32 long.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BidangCode(String);
impl BidangCode {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty()
            || s.len() > 32
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(ParseError::new(
                "bidang code",
                "must be 1-32 lowercase letters, digits, `_` or `-`",
            ));
        }
        Ok(BidangCode(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for BidangCode {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<BidangCode> for String {
    fn from(t: BidangCode) -> String {
        t.0
    }
}
impl fmt::Display for BidangCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A staff username: 1-64 characters of letters, digits, `.`, `_`, `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);
impl Username {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty()
            || s.len() > 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        {
            return Err(ParseError::new(
                "username",
                "must be 1-64 letters, digits, `.`, `_` or `-`",
            ));
        }
        Ok(Username(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Username {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}
impl From<Username> for String {
    fn from(t: Username) -> String {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_numbers_round_trip_and_reject_garbage() {
        let p = TicketPrefix::parse("ADU").unwrap();
        let t = TicketNumber::new(&p, 2026, 3, 7);
        assert_eq!(t.as_str(), "ADU-202603-0007");
        assert_eq!(TicketNumber::parse("ADU-202603-0007").unwrap(), t);
        assert!(TicketNumber::parse("ADU-202603-12345").is_ok());
        for bad in [
            "",
            "ADU",
            "ADU-2026-0001",
            "adu-202603-0001",
            "ADU-202613-0001",
            "ADU-202603-01",
            "ADU-202603-00a1",
        ] {
            assert!(TicketNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_parse_their_wire_names_only() {
        assert_eq!("walk_in".parse::<Channel>().unwrap(), Channel::WalkIn);
        assert!("Walk_in".parse::<Channel>().is_err());
        assert_eq!("lain_lain".parse::<Category>().unwrap(), Category::LainLain);
        let e = "keluhan".parse::<Category>().unwrap_err();
        assert!(e.to_string().contains("perilaku_pegawai"));
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), *c);
        }
    }

    #[test]
    fn emails_phones_niks() {
        assert!(EmailAddress::parse(" budi@example.go.id ").is_ok());
        for bad in [
            "budi",
            "@x.id",
            "budi@",
            "budi@localhost",
            "bu di@x.id",
            "b@x..id",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PhoneNumber::parse("+62 812-3456-7890").unwrap().as_str(),
            "+6281234567890"
        );
        assert!(PhoneNumber::parse("0812x").is_err());
        assert!(PhoneNumber::parse("123").is_err());
        assert!(Nik::parse("5108012345678901").is_ok());
        assert!(Nik::parse("510801234567890").is_err());
        assert!(Nik::parse("0108012345678901").is_err());
    }
}
