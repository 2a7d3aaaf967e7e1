//! One IMAP connection: TCP, then `none`, `starttls` or `tls` (rustls with the webpki
//! roots and the ring provider, so no process-wide crypto provider is needed), the
//! greeting check and `LOGIN`.
//!
//! Every server round trip goes through [`step`] (or a variant with the same rule), so no
//! command can hang the reader: each has a timeout, and a timeout or connection error
//! becomes [`Failure::Imap`], which ends the session and makes the caller reconnect.

use std::time::Duration;

use async_imap::imap_proto::{Response, Status};
use async_imap::{Client, Session};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::{Failure, imap_err};
use crate::config::EmailConfig;
use crate::smtp::Security;
use crate::tls::Transport;

/// Timeout of connecting (TCP and TLS handshake) and of one ordinary command.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Run an IMAP step with a timeout.
pub(super) async fn step<T>(
    what: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(imap_err(what, e)),
        Err(_) => Err(Failure::Imap(format!("{what}: no answer within {limit:?}"))),
    }
}

pub(super) type ImapSession = Session<Transport>;

/// A TLS connector trusting the webpki roots (ring provider, TLS 1.2 and 1.3).
fn tls_connector() -> Result<TlsConnector, Failure> {
    crate::tls::connector().map_err(|e| imap_err("TLS setup", e))
}

async fn tls_wrap(host: &str, tcp: TcpStream) -> Result<Transport, Failure> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| imap_err(&format!("TLS server name `{host}`"), e))?;
    let connector = tls_connector()?;
    match tokio::time::timeout(COMMAND_TIMEOUT, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(Transport::Tls(Box::new(s))),
        Ok(Err(e)) => Err(imap_err("TLS handshake", e)),
        Err(_) => Err(Failure::Imap("TLS handshake: timed out".into())),
    }
}

/// Read and check the server greeting (`* OK` or `* PREAUTH`).
async fn read_greeting(client: &mut Client<Transport>) -> Result<(), Failure> {
    let resp = match tokio::time::timeout(COMMAND_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => {
            return Err(Failure::Imap(
                "connection closed before the greeting".into(),
            ));
        }
        Ok(Err(e)) => return Err(imap_err("greeting", e)),
        Err(_) => return Err(Failure::Imap("greeting: timed out".into())),
    };
    match resp.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        Response::Data {
            status: Status::Bye,
            outcome,
        } => Err(Failure::Imap(format!(
            "server refused the connection: {}",
            outcome.information.as_deref().unwrap_or("BYE")
        ))),
        other => Err(Failure::Imap(format!("unexpected greeting: {other:?}"))),
    }
}

/// Connect, secure, greet and log in.
pub(super) async fn connect(cfg: &EmailConfig, security: Security) -> Result<ImapSession, Failure> {
    let host = cfg.imap_host.trim();
    let addr = format!("{host}:{}", cfg.imap_port);
    let tcp = match tokio::time::timeout(COMMAND_TIMEOUT, TcpStream::connect((host, cfg.imap_port)))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(imap_err(&format!("connect {addr}"), e)),
        Err(_) => return Err(Failure::Imap(format!("connect {addr}: timed out"))),
    };
    let _ = tcp.set_nodelay(true);
    let client = match security {
        Security::None => {
            let mut c = Client::new(Transport::Plain(tcp));
            read_greeting(&mut c).await?;
            c
        }
        Security::Tls => {
            let mut c = Client::new(tls_wrap(host, tcp).await?);
            read_greeting(&mut c).await?;
            c
        }
        Security::StartTls => {
            let mut c = Client::new(Transport::Plain(tcp));
            read_greeting(&mut c).await?;
            step(
                "STARTTLS",
                COMMAND_TIMEOUT,
                c.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let Transport::Plain(tcp) = c.into_inner() else {
                return Err(Failure::Imap("STARTTLS on a TLS connection".into()));
            };
            // No greeting after STARTTLS (RFC 3501 §6.2.1).
            Client::new(tls_wrap(host, tcp).await?)
        }
    };
    match tokio::time::timeout(
        COMMAND_TIMEOUT,
        client.login(cfg.username.trim(), cfg.password.expose()),
    )
    .await
    {
        Ok(Ok(s)) => Ok(s),
        Ok(Err((e, _))) => Err(imap_err(&format!("LOGIN as {}", cfg.username.trim()), e)),
        Err(_) => Err(Failure::Imap("LOGIN: timed out".into())),
    }
}

/// Best-effort `LOGOUT`.
pub(super) async fn logout(s: &mut ImapSession) {
    let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_connector_builds() {
        // No process-wide CryptoProvider is needed (ring is passed explicitly).
        assert!(tls_connector().is_ok());
    }
}
