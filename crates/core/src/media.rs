//! Media a citizen sends on a chat platform (photos, documents, voice notes, videos …),
//! fetched from the platform as a durable job after the complaint is committed.
//!
//! A channel reads the platform's reference to a file (a Telegram `file_id`, a WhatsApp
//! media id, a Messenger attachment URL) into a [`NewMedia`] of its [`Submission`]. The
//! desk writes one job per file ([`NewMediaJob`], table `media_jobs`) in the same
//! transaction as the complaint or the message, so the webhook or poller never waits for a
//! download. A worker ([`crate::desk::Desk::media`]) claims due jobs under a lease, hands
//! each to the platform's [`MediaFetcher`], and stores the file as an attachment of the
//! complaint, retries a transient failure with backoff, or — when the file is larger than
//! the limit, unavailable, or still failing after the last attempt — records that on the
//! complaint as a history line staff see ([`failure_note`]), never silently.
//!
//! Invariants: the platform reference, the file name and error texts are citizen data or
//! may carry a token, so the store seals them; logs name the job id, the ticket, the
//! channel and the kind only. Notes name the kind and the media type, never the file name
//! (it can carry a name or a NIK).
//!
//! [`Submission`]: crate::desk::Submission

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::model::NewAttachment;
use crate::types::{Channel, TicketNumber};

/// Attempts of one download before it is recorded as unavailable.
pub const MEDIA_MAX_ATTEMPTS: i32 = 6;

/// What a media file is, as the platform says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// A photo or an image attachment.
    Image,
    Video,
    /// A Telegram round video message.
    VideoNote,
    Audio,
    /// A voice note.
    Voice,
    /// A document or a generic file attachment.
    Document,
    Sticker,
    /// A GIF or soundless video (Telegram animation).
    Animation,
}

impl MediaKind {
    pub const ALL: [MediaKind; 8] = [
        MediaKind::Image,
        MediaKind::Video,
        MediaKind::VideoNote,
        MediaKind::Audio,
        MediaKind::Voice,
        MediaKind::Document,
        MediaKind::Sticker,
        MediaKind::Animation,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::VideoNote => "video_note",
            MediaKind::Audio => "audio",
            MediaKind::Voice => "voice",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
            MediaKind::Animation => "animation",
        }
    }

    pub fn parse(s: &str) -> Option<MediaKind> {
        MediaKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What staff read (Bahasa Indonesia, the desk's language).
    pub fn label(self) -> &'static str {
        match self {
            MediaKind::Image => "foto",
            MediaKind::Video => "video",
            MediaKind::VideoNote => "pesan video",
            MediaKind::Audio => "audio",
            MediaKind::Voice => "pesan suara",
            MediaKind::Document => "dokumen",
            MediaKind::Sticker => "stiker",
            MediaKind::Animation => "animasi",
        }
    }

    /// The media type assumed when neither the platform nor the download names one.
    pub fn default_content_type(self) -> &'static str {
        match self {
            MediaKind::Image => "image/jpeg",
            MediaKind::Video | MediaKind::VideoNote | MediaKind::Animation => "video/mp4",
            MediaKind::Audio => "audio/mpeg",
            MediaKind::Voice => "audio/ogg",
            MediaKind::Sticker => "image/webp",
            MediaKind::Document => "application/octet-stream",
        }
    }

    /// The line a file leaves in the complaint text: `[lampiran: foto]`.
    pub fn marker(self) -> String {
        format!("[lampiran: {}]", self.label())
    }
}

impl std::fmt::Display for MediaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file of a citizen message, as the channel found it (not yet downloaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMedia {
    pub kind: MediaKind,
    /// The platform's reference: Telegram `file_id`, WhatsApp media id, attachment URL.
    pub source: String,
    /// The file name the citizen's app gave, if any.
    pub filename: Option<String>,
    /// The media type the platform announced, if any.
    pub content_type: Option<String>,
    /// The size the platform announced, if any.
    pub size: Option<u64>,
}

/// A media job to write with a complaint or a message (built by the desk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMediaJob {
    pub kind: MediaKind,
    pub source: String,
    /// The attachment's file name (safe; a default when the platform gave none).
    pub filename: String,
    pub content_type: Option<String>,
    pub size: Option<u64>,
    /// `"<message external id>#<n>"`: a redelivered message never makes a second job.
    pub key: Option<String>,
    /// The album the file belongs to (Telegram `media_group_id`, with the chat), so later
    /// files of the album join the same complaint.
    pub album: Option<String>,
    pub max_attempts: i32,
}

/// A claimed media job, ready to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaJob {
    pub id: i64,
    pub complaint_id: i64,
    pub ticket: TicketNumber,
    pub channel: Channel,
    pub kind: MediaKind,
    pub source: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub size: Option<u64>,
    pub attempts: i32,
    pub max_attempts: i32,
    /// Identifies this lease; completion must present it.
    pub claim_token: String,
}

/// The bytes a fetcher got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub data: Vec<u8>,
    /// The media type the file server named, if any.
    pub content_type: Option<String>,
}

/// Why a fetch failed. Messages must name no URL, token, chat id or phone number: they end
/// up in the log and (sealed) on the complaint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The file is larger than the limit (`size` when known).
    #[error("too large")]
    TooLarge { size: Option<u64> },
    /// The file will never be served (gone, expired, refused as invalid).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Worth retrying (network, 5xx, timeout).
    #[error("transient: {0}")]
    Transient(String),
    /// Retry no earlier than `after` (flood control).
    #[error("retry after {after}: {message}")]
    RetryAfter { after: Duration, message: String },
}

/// Downloads the files of one platform (or of several, told apart by `job.channel`).
#[async_trait]
pub trait MediaFetcher: Send + Sync + 'static {
    /// Fetch the job's file, never holding more than `limit` bytes: a larger file is
    /// [`FetchError::TooLarge`].
    async fn fetch(&self, job: &MediaJob, limit: u64) -> Result<Fetched, FetchError>;
}

/// How one attempt ended, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutcome {
    /// Store the file as the complaint's attachment.
    Stored {
        attachment: NewAttachment,
        at: DateTime<Utc>,
    },
    /// Try again at `next_attempt_at`.
    Retry {
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    /// Give up: `note` goes on the complaint as a history line (action
    /// [`MEDIA_FAILED_ACTION`]), `error` on the job.
    Failed {
        note: String,
        error: String,
        at: DateTime<Utc>,
    },
}

/// The history action of a file that could not be stored.
pub const MEDIA_FAILED_ACTION: &str = "media_failed";

/// Where a media job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaStatus {
    Pending,
    Done,
    Failed,
}

impl MediaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Pending => "pending",
            MediaStatus::Done => "done",
            MediaStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<MediaStatus> {
        [MediaStatus::Pending, MediaStatus::Done, MediaStatus::Failed]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A media job as read back (no platform reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaJobStatus {
    pub id: i64,
    pub channel: Channel,
    pub kind: MediaKind,
    pub status: MediaStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The attachment the file became.
    pub attachment_id: Option<i64>,
}

/// What one pass of the media worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaRun {
    pub claimed: usize,
    pub stored: usize,
    pub retried: usize,
    pub failed: usize,
    /// Each attempt, for the worker's log (ids, ticket, channel, kind: nothing personal).
    pub attempts: Vec<MediaAttempt>,
}

/// One attempt of a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaAttempt {
    pub job: i64,
    pub ticket: TicketNumber,
    pub channel: Channel,
    pub kind: MediaKind,
    /// `stored`, `retry` or `failed`.
    pub outcome: &'static str,
    /// False when the lease was lost meanwhile (another worker owns the job; nothing kept).
    pub lease_kept: bool,
}

/// `12 KB`, `3.4 MB`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{bytes} byte")
    }
}

/// The complaint's note for a file left out: `lampiran terlalu besar: …` or `lampiran
/// tidak dapat diunduh: …`, naming the kind and media type only.
pub fn failure_note(job: &MediaJob, error: &FetchError, limit: u64, attempts: i32) -> String {
    let media = crate::model::media_type(
        job.content_type
            .as_deref()
            .unwrap_or(job.kind.default_content_type()),
    );
    let what = format!(
        "{} ({media}) dari {}",
        job.kind.label(),
        platform(job.channel)
    );
    match error {
        FetchError::TooLarge { size } => {
            let size = size.or(job.size).map(|s| format!("{}, ", human_size(s)));
            format!(
                "Lampiran terlalu besar: {what} ({}batas {}); tidak disimpan.",
                size.unwrap_or_default(),
                human_size(limit)
            )
        }
        FetchError::Unavailable(why) => {
            format!("Lampiran tidak dapat diunduh: {what} ({why}).")
        }
        FetchError::Transient(why) | FetchError::RetryAfter { message: why, .. } => format!(
            "Lampiran tidak dapat diunduh: {what} (gagal {attempts} kali; terakhir: {why})."
        ),
    }
}

/// The platform's name as staff know it.
fn platform(c: Channel) -> &'static str {
    match c {
        Channel::Telegram => "Telegram",
        Channel::Messenger => "Messenger",
        Channel::Instagram => "Instagram",
        Channel::Whatsapp => "WhatsApp",
        other => other.as_str(),
    }
}

/// The stored file name: the citizen's name made safe (no path separators or control
/// characters, at most 120 characters), or `<kind>-<n>.<ext>`.
pub fn file_name(
    kind: MediaKind,
    given: Option<&str>,
    content_type: Option<&str>,
    n: usize,
) -> String {
    let clean: String = given
        .unwrap_or("")
        .trim()
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\') {
                '_'
            } else {
                c
            }
        })
        .take(120)
        .collect();
    if !clean.trim_matches(|c| c == '.' || c == ' ').is_empty() {
        return clean;
    }
    let ext = extension(content_type.unwrap_or(kind.default_content_type()));
    format!("{}-{n}.{ext}", kind.label().replace(' ', "-"))
}

/// A file name extension for a media type.
fn extension(content_type: &str) -> &'static str {
    match crate::model::media_type(content_type).as_str() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/heic" => "heic",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "audio/x-m4a" => "m4a",
        "audio/aac" => "aac",
        "audio/amr" => "amr",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "text/plain" => "txt",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in MediaKind::ALL {
            assert_eq!(MediaKind::parse(k.as_str()), Some(k));
            assert!(k.marker().starts_with("[lampiran: "));
        }
        assert_eq!(MediaKind::parse("hologram"), None);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(
            file_name(MediaKind::Document, Some("../../etc/passwd"), None, 1),
            ".._.._etc_passwd"
        );
        assert_eq!(
            file_name(MediaKind::Document, Some(".."), None, 2),
            "dokumen-2.bin"
        );
        assert_eq!(file_name(MediaKind::Image, None, None, 1), "foto-1.jpg");
        assert_eq!(
            file_name(MediaKind::Voice, None, Some("audio/ogg; codecs=opus"), 3),
            "pesan-suara-3.ogg"
        );
        assert_eq!(
            file_name(
                MediaKind::Document,
                Some(" kk.pdf "),
                Some("application/pdf"),
                1
            ),
            "kk.pdf"
        );
        let long = "a".repeat(500);
        assert_eq!(
            file_name(MediaKind::Document, Some(&long), None, 1).len(),
            120
        );
    }

    #[test]
    fn notes_name_kind_and_type_but_not_the_file() {
        let job = MediaJob {
            id: 1,
            complaint_id: 1,
            ticket: TicketNumber::parse("ADU-202601-0001").unwrap(),
            channel: Channel::Whatsapp,
            kind: MediaKind::Document,
            source: "secret-media-id".into(),
            filename: "KTP_Made_5108012345678901.pdf".into(),
            content_type: Some("application/pdf".into()),
            size: Some(30 * 1024 * 1024),
            attempts: 0,
            max_attempts: 6,
            claim_token: "t".into(),
        };
        let big = failure_note(
            &job,
            &FetchError::TooLarge { size: None },
            10 * 1024 * 1024,
            1,
        );
        assert!(
            big.starts_with("Lampiran terlalu besar: dokumen (application/pdf)"),
            "{big}"
        );
        assert!(
            big.contains("30.0 MB") && big.contains("batas 10.0 MB"),
            "{big}"
        );
        let gone = failure_note(&job, &FetchError::Unavailable("HTTP 404".into()), 1, 1);
        assert!(
            gone.starts_with("Lampiran tidak dapat diunduh: dokumen"),
            "{gone}"
        );
        assert!(gone.contains("HTTP 404"), "{gone}");
        let flaky = failure_note(&job, &FetchError::Transient("HTTP 503".into()), 1, 6);
        assert!(flaky.contains("gagal 6 kali"), "{flaky}");
        for n in [big, gone, flaky] {
            assert!(!n.contains("KTP") && !n.contains("secret"), "{n}");
        }
    }
}
