//! Commands and ticket mentions in a citizen's text.
//!
//! Invariants: pure string functions. A command is a `/` followed by an ASCII letter at the
//! start of the text (`/start@BotName` is accepted); anything else is no command, so a
//! complaint that merely contains a slash is stored. Ticket numbers are upper-cased and
//! validated by [`TicketNumber::parse`]; at most three are taken from one text.

use aduan_core::types::TicketNumber;

/// A command in a message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    Start,
    Help,
    Status(Option<String>),
    Unknown(String),
}

pub(super) fn parse_command(text: &str) -> Option<Command> {
    let text = text.trim_start();
    let rest = text.strip_prefix('/')?;
    if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let (word, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let name = word.split('@').next().unwrap_or(word).to_ascii_lowercase();
    Some(match name.as_str() {
        "start" => Command::Start,
        "help" | "bantuan" => Command::Help,
        "status" | "cek" => Command::Status(
            args.split_whitespace()
                .next()
                .map(|t| t.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-'))
                .filter(|t| !t.is_empty())
                .map(str::to_ascii_uppercase),
        ),
        other => Command::Unknown(other.chars().take(32).collect()),
    })
}

/// Ticket numbers named in a text (`ADU-202603-0001`).
pub(super) fn tickets_in(text: &str) -> Vec<TicketNumber> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.len() >= 13 && w.contains('-'))
        .filter_map(|w| TicketNumber::parse(&w.to_ascii_uppercase()).ok())
        .take(3)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse_command("/start"), Some(Command::Start));
        assert_eq!(parse_command("/start@AduanBot abc"), Some(Command::Start));
        assert_eq!(parse_command(" /HELP"), Some(Command::Help));
        assert_eq!(
            parse_command("/status adu-202603-0001"),
            Some(Command::Status(Some("ADU-202603-0001".into())))
        );
        assert_eq!(
            parse_command("/status@AduanBot  ADU-202603-0001."),
            Some(Command::Status(Some("ADU-202603-0001".into())))
        );
        assert_eq!(parse_command("/status"), Some(Command::Status(None)));
        assert_eq!(
            parse_command("/lapor x"),
            Some(Command::Unknown("lapor".into()))
        );
        assert_eq!(parse_command("KTP saya / KK"), None);
        assert_eq!(parse_command("/ 1"), None);
        assert_eq!(parse_command("/"), None);
        assert_eq!(parse_command(""), None);
    }

    #[test]
    fn ticket_mentions() {
        let t = tickets_in("Menanggapi tiket ADU-202603-0001, (adu-202603-0002)!");
        assert_eq!(
            t.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            vec!["ADU-202603-0001", "ADU-202603-0002"]
        );
        assert!(tickets_in("tidak ada nomor di sini - 2026").is_empty());
    }
}
