//! TLS with rustls (feature `rustls`): the default client configuration for `wss://` (webpki
//! roots, the ring provider) and server-name handling. Servers bring their own TLS stream
//! (`tokio_rustls::server::TlsStream` or `rustls::StreamOwned`) and hand it to `accept`.
#![forbid(unsafe_code)]

use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;

use crate::error::Error;
use crate::HandshakeError;

/// The client configuration `connect` uses for `wss://`: Mozilla's roots from `webpki-roots`,
/// safe default protocol versions, no client certificate. Built once and shared.
pub fn default_client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// The server name to verify for `host` (a DNS name or an IP address).
pub fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_string())
        .map_err(|_| Error::Handshake(HandshakeError::InvalidUri("invalid TLS server name")))
}

/// A rustls client connection for `host`, with `config` or the default.
pub fn client_connection(
    host: &str,
    config: Option<Arc<rustls::ClientConfig>>,
) -> Result<rustls::ClientConnection, Error> {
    let config = config.unwrap_or_else(default_client_config);
    rustls::ClientConnection::new(config, server_name(host)?)
        .map_err(|e| Error::Io(std::io::Error::other(e)))
}
