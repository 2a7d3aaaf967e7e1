//! Test helpers shared with other crates' tests: a minimal in-process SMTP server, and a
//! private Dovecot IMAP server ([`dovecot`]).
//!
//! [`SmtpSink`] listens on `127.0.0.1:0`, speaks just enough SMTP for lettre (greeting,
//! `EHLO`/`HELO`, `AUTH PLAIN|LOGIN` accepting anything, `MAIL`, `RCPT`, `DATA`, `RSET`,
//! `NOOP`, `QUIT`) and hands every accepted message to a channel. `RCPT` can be told to
//! answer `451` or `550` to exercise error paths, and the final reply to `DATA` can be
//! withheld ([`SmtpSink::set_hold_after_data`]: the server took the message, the client
//! never hears so — a crash window). Dropping the sink stops the server and
//! closes its connections.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use aduan_channel_email::testing::SmtpSink;
//! let (sink, mut received) = SmtpSink::start().await?;
//! // point an SmtpSender at sink.addr() with Security::None, send, then:
//! let mail = received.recv().await;
//! # Ok(()) }
//! ```

pub mod dovecot;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt as _, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Largest DATA payload the sink accepts (bigger ones get `552`).
const MAX_DATA: usize = 32 * 1024 * 1024;
/// Longest command line accepted.
const MAX_LINE: usize = 64 * 1024;

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// Envelope sender from `MAIL FROM:<…>` (empty for `<>`).
    pub mail_from: String,
    /// Envelope recipients from the accepted `RCPT TO:<…>` commands.
    pub rcpt_to: Vec<String>,
    /// The message as transmitted, dot-unstuffed, with CRLF line ends.
    pub data: Vec<u8>,
}

/// How the sink answers `RCPT TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RcptReply {
    /// `250 OK`.
    #[default]
    Accept,
    /// `451 4.3.0 try again later` (transient).
    TempFail,
    /// `550 5.1.1 no such user` (permanent).
    Reject,
    /// `550 5.1.1 <address>: Recipient address rejected: …` (permanent), quoting the
    /// address as Postfix does.
    RejectQuotingAddress,
}

/// A running SMTP sink; stops when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    rcpt: Arc<Mutex<RcptReply>>,
    hold: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    /// Start a sink that accepts every recipient.
    pub async fn start() -> std::io::Result<(SmtpSink, mpsc::UnboundedReceiver<ReceivedMail>)> {
        Self::start_with(RcptReply::Accept).await
    }

    /// Start a sink that answers `RCPT` as `rcpt` says.
    pub async fn start_with(
        rcpt: RcptReply,
    ) -> std::io::Result<(SmtpSink, mpsc::UnboundedReceiver<ReceivedMail>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let rcpt = Arc::new(Mutex::new(rcpt));
        let rcpt_for_task = Arc::clone(&rcpt);
        let hold = Arc::new(AtomicBool::new(false));
        let hold_for_task = Arc::clone(&hold);
        let connections = Arc::new(AtomicUsize::new(0));
        let connections_for_task = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            // Connection tasks live in the set, so aborting this task (drop of the set)
            // aborts them too.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        connections_for_task.fetch_add(1, Ordering::SeqCst);
                        let tx = tx.clone();
                        let rcpt = Arc::clone(&rcpt_for_task);
                        let hold = Arc::clone(&hold_for_task);
                        conns.spawn(async move {
                            let _ = session(stream, tx, rcpt, hold).await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok((
            SmtpSink {
                addr,
                rcpt,
                hold,
                connections,
                task,
            },
            rx,
        ))
    }

    /// The address the sink listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the sink listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// While `true`, a message whose `DATA` is complete is handed over (received) but never
    /// answered with `250`: the connection hangs until the client closes it.
    pub fn set_hold_after_data(&self, hold: bool) {
        self.hold.store(hold, Ordering::SeqCst);
    }

    /// Change how later `RCPT` commands are answered.
    pub fn set_rcpt_reply(&self, reply: RcptReply) {
        if let Ok(mut r) = self.rcpt.lock() {
            *r = reply;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Read one line (without the line end); `None` at EOF or when too long.
async fn read_line<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<()>> {
    buf.clear();
    let mut limited = (&mut *r).take(MAX_LINE as u64 + 2);
    let n = limited.read_until(b'\n', buf).await?;
    if n == 0 || (!buf.ends_with(b"\n") && n as u64 > MAX_LINE as u64) {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(()))
}

/// Extract the address from `MAIL FROM:<a> params` / `RCPT TO:<a>`.
fn path_arg(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(o), Some(c)) if c > o => arg[o + 1..c].to_string(),
        _ => arg.split_whitespace().next().unwrap_or("").to_string(),
    }
}

/// Serve one SMTP connection.
async fn session(
    stream: TcpStream,
    tx: mpsc::UnboundedSender<ReceivedMail>,
    rcpt_mode: Arc<Mutex<RcptReply>>,
    hold: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink.test ESMTP aduan test sink\r\n")
        .await?;
    let mut line = Vec::new();
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    while read_line(&mut r, &mut line).await?.is_some() {
        let text = String::from_utf8_lossy(&line).into_owned();
        let upper = text.to_ascii_uppercase();
        let quoted;
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink.test\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            if upper.trim() == "AUTH PLAIN" {
                w.write_all(b"334 \r\n").await?;
                if read_line(&mut r, &mut line).await?.is_none() {
                    break;
                }
            }
            b"235 2.7.0 authenticated\r\n"
        } else if upper.starts_with("AUTH LOGIN") {
            let mut prompts: Vec<&[u8]> = Vec::new();
            if upper.trim() == "AUTH LOGIN" {
                prompts.push(b"334 VXNlcm5hbWU6\r\n");
            }
            prompts.push(b"334 UGFzc3dvcmQ6\r\n");
            let mut ok = true;
            for p in prompts {
                w.write_all(p).await?;
                if read_line(&mut r, &mut line).await?.is_none() {
                    ok = false;
                    break;
                }
            }
            if !ok {
                break;
            }
            b"235 2.7.0 authenticated\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail_from = Some(path_arg(&text[10..]));
            rcpt_to.clear();
            b"250 2.1.0 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            if mail_from.is_none() {
                b"503 5.5.1 need MAIL first\r\n"
            } else {
                let mode = rcpt_mode.lock().map(|m| *m).unwrap_or_default();
                match mode {
                    RcptReply::Accept => {
                        rcpt_to.push(path_arg(&text[8..]));
                        b"250 2.1.5 ok\r\n"
                    }
                    RcptReply::TempFail => b"451 4.3.0 try again later\r\n",
                    RcptReply::Reject => b"550 5.1.1 no such user\r\n",
                    RcptReply::RejectQuotingAddress => {
                        quoted = format!(
                            "550 5.1.1 <{}>: Recipient address rejected: User unknown in virtual mailbox table\r\n",
                            path_arg(&text[8..])
                        );
                        quoted.as_bytes()
                    }
                }
            }
        } else if upper == "DATA" {
            if mail_from.is_none() || rcpt_to.is_empty() {
                b"503 5.5.1 need MAIL and RCPT first\r\n"
            } else {
                w.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data: Vec<u8> = Vec::new();
                let mut too_big = false;
                let mut complete = false;
                while read_line(&mut r, &mut line).await?.is_some() {
                    if line == b"." {
                        complete = true;
                        break;
                    }
                    let content = line.strip_prefix(b".").unwrap_or(&line);
                    if data.len() + content.len() + 2 > MAX_DATA {
                        too_big = true;
                    } else {
                        data.extend_from_slice(content);
                        data.extend_from_slice(b"\r\n");
                    }
                }
                if !complete {
                    break;
                }
                let from = mail_from.take().unwrap_or_default();
                let to = std::mem::take(&mut rcpt_to);
                if too_big {
                    b"552 5.3.4 message too big\r\n"
                } else {
                    let _ = tx.send(ReceivedMail {
                        mail_from: from,
                        rcpt_to: to,
                        data,
                    });
                    if hold.load(Ordering::SeqCst) {
                        // Taken, never confirmed: wait for the client to go away.
                        let mut rest = Vec::new();
                        let _ = r.read_to_end(&mut rest).await;
                        return Ok(());
                    }
                    b"250 2.0.0 queued\r\n"
                }
            }
        } else if upper == "RSET" {
            mail_from = None;
            rcpt_to.clear();
            b"250 2.0.0 ok\r\n"
        } else if upper.starts_with("NOOP") {
            b"250 2.0.0 ok\r\n"
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 bye\r\n").await?;
            break;
        } else {
            b"502 5.5.2 command not implemented\r\n"
        };
        w.write_all(reply).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::path_arg;

    #[test]
    fn paths() {
        assert_eq!(path_arg("<a@b> BODY=8BITMIME"), "a@b");
        assert_eq!(path_arg("<>"), "");
        assert_eq!(path_arg(" a@b"), "a@b");
    }
}
