//! The one TLS client configuration of the e-mail channel (IMAP and SMTP): rustls with the
//! ring provider, TLS 1.2 and 1.3, trusting the webpki roots (the same roots lettre's
//! STARTTLS uses).

use std::sync::Arc;

use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A connector for the webpki roots. Built per connection attempt (cheap next to a
/// handshake), so no process-wide crypto provider is needed.
pub(crate) fn connector() -> Result<TlsConnector, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
