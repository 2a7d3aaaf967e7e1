//! The files of a citizen message: download through `getFile`, safe file names, and the
//! notes written into the complaint text for files left out.
//!
//! Invariants: never more than `max_attachment_bytes` of one file is held in memory (the
//! announced size is checked first, then the stream is cut off). A transient failure
//! fails the whole update (it is delivered again) unless the caller gave up on downloads;
//! then, like a permanent failure or a file over the limit, the file is left out with a
//! note in the complaint text (for staff, in the desk's language). File names never
//! contain path separators or control characters.

use aduan_core::model::NewAttachment;
use futures::StreamExt;
use teloxide::Bot;
use teloxide::net::Download;
use teloxide::requests::Requester;
use teloxide::types::FileId;

use super::HandleError;
use super::incoming::{FileKind, FileRef, Incoming, known_size};
use crate::TelegramContext;
use crate::bot::{Failure, classify, scrub};

/// Note for a message that also carried media aduan does not store.
pub(super) const OTHER_MEDIA_NOTE: &str =
    "[Lampiran berupa media lain (misalnya video, suara, atau stiker) tidak disimpan.]";

fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{bytes} byte")
    }
}

enum Fetched {
    Data { data: Vec<u8>, path: String },
    TooLarge(u64),
    Failed(String),
}

/// Fetch one file through getFile + download, never holding more than `limit` bytes.
/// `Err` is a transient failure.
async fn fetch(bot: &Bot, token: &str, f: &FileRef, limit: u64) -> Result<Fetched, String> {
    if let Some(size) = f.size
        && size > limit
    {
        return Ok(Fetched::TooLarge(size));
    }
    let file = match bot.get_file(FileId(f.file_id.clone())).await {
        Ok(file) => file,
        Err(e) => {
            return match classify(token, &e) {
                Failure::Permanent(m) | Failure::Forbidden(m) => Ok(Fetched::Failed(m)),
                Failure::RetryAfter(s) => Err(format!("getFile: flood control, retry after {s} s")),
                Failure::Migrated(_) => Ok(Fetched::Failed("chat migrated".into())),
                Failure::Transient(m) => Err(format!("getFile: {m}")),
            };
        }
    };
    if let Some(size) = known_size(file.meta.size)
        && size > limit
    {
        return Ok(Fetched::TooLarge(size));
    }
    if file.path.is_empty() {
        return Ok(Fetched::Failed("Telegram gave no file_path".into()));
    }
    let mut stream = bot.download_file_stream(&file.path);
    let mut data = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                if data.len() as u64 + bytes.len() as u64 > limit {
                    return Ok(Fetched::TooLarge(data.len() as u64 + bytes.len() as u64));
                }
                data.extend_from_slice(&bytes);
            }
            Err(e) => {
                let msg = scrub(token, &e.to_string());
                return match e.status() {
                    Some(s) if s.is_client_error() && s.as_u16() != 429 => {
                        Ok(Fetched::Failed(format!("download: HTTP {s}")))
                    }
                    _ => Err(format!("download: {msg}")),
                };
            }
        }
    }
    Ok(Fetched::Data {
        data,
        path: file.path,
    })
}

/// A safe file name for the attachment.
fn file_name(f: &FileRef, path: Option<&str>, message_id: i64, n: usize) -> String {
    let from_path = path
        .and_then(|p| p.rsplit('/').next())
        .filter(|s| !s.is_empty());
    let raw = match (f.kind, f.file_name.as_deref(), from_path) {
        (_, Some(name), _) if !name.trim().is_empty() => name.trim().to_string(),
        (FileKind::Photo, _, _) => format!("foto-{message_id}-{n}.jpg"),
        (FileKind::Document, _, Some(p)) => p.to_string(),
        (FileKind::Document, _, None) => format!("dokumen-{message_id}-{n}"),
    };
    let clean: String = raw
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
    if clean.trim_matches('.').is_empty() {
        format!("lampiran-{message_id}-{n}")
    } else {
        clean
    }
}

/// Download the message's files within the limit; notes for the ones left out.
pub(super) async fn collect_files(
    ctx: &TelegramContext,
    bot: &Bot,
    token: &str,
    m: &Incoming,
    give_up: bool,
) -> Result<(Vec<NewAttachment>, Vec<String>), HandleError> {
    let mut atts = Vec::new();
    let mut notes = Vec::new();
    for (i, f) in m.files.iter().enumerate() {
        let n = i + 1;
        let label = |path: Option<&str>| file_name(f, path, m.message_id, n);
        match fetch(bot, token, f, ctx.max_attachment_bytes).await {
            Ok(Fetched::Data { data, path }) => atts.push(NewAttachment {
                filename: label(Some(&path)),
                content_type: f
                    .mime
                    .clone()
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "application/octet-stream".into()),
                data,
            }),
            Ok(Fetched::TooLarge(size)) => notes.push(format!(
                "[Lampiran {} ({}) tidak disimpan karena melebihi batas {}.]",
                label(None),
                human_size(size),
                human_size(ctx.max_attachment_bytes)
            )),
            Ok(Fetched::Failed(why)) => {
                tracing::warn!(message = m.message_id, error = %why, "telegram: attachment not downloadable");
                notes.push(format!(
                    "[Lampiran {} tidak dapat diunduh dari Telegram.]",
                    label(None)
                ));
            }
            Err(why) if give_up => {
                tracing::warn!(message = m.message_id, error = %why, "telegram: giving up on attachment");
                notes.push(format!(
                    "[Lampiran {} tidak dapat diunduh dari Telegram.]",
                    label(None)
                ));
            }
            Err(why) => return Err(HandleError::Download(why)),
        }
    }
    Ok((atts, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe() {
        let f = FileRef {
            file_id: "x".into(),
            size: None,
            file_name: Some("../../etc/passwd".into()),
            mime: None,
            kind: FileKind::Document,
        };
        assert_eq!(file_name(&f, None, 1, 1), ".._.._etc_passwd");
        let p = FileRef {
            file_name: None,
            kind: FileKind::Photo,
            ..f.clone()
        };
        assert_eq!(
            file_name(&p, Some("photos/file_1.jpg"), 7, 1),
            "foto-7-1.jpg"
        );
        let d = FileRef {
            file_name: Some("..".into()),
            ..f
        };
        assert_eq!(file_name(&d, None, 7, 2), "lampiran-7-2");
    }
}
