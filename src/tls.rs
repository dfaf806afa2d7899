//! TLS settings: the server's certificate and key, and optionally a CA that
//! client certificates must be signed by (mutual TLS). rustls does the work,
//! through tonic's `tls-ring` feature.

use std::{fmt, path::Path, time::Duration};

use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

/// A client that connects but does not finish its handshake is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// PEM material, kept in memory so tests can pass generated certificates.
#[derive(Clone)]
pub struct TlsSettings {
    cert_chain: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("key", &"<redacted>")
            .field("client_ca", &self.client_ca.is_some())
            .finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// `cert_chain`: the server certificate, then any intermediates (PEM).
    /// `key`: its private key (PEM). `client_ca`: when set, clients must
    /// present a certificate signed by it.
    pub fn from_pem(
        cert_chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
        client_ca: Option<Vec<u8>>,
    ) -> Self {
        Self {
            cert_chain: cert_chain.into(),
            key: key.into(),
            client_ca,
        }
    }

    /// Reads the PEM files, and checks that each holds what it should, so a
    /// swapped or empty file is reported by name rather than as a handshake error.
    pub fn from_files(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, String> {
        let cert_chain = read_pem(cert, "--tls-cert", "CERTIFICATE")?;
        let key = read_pem(key, "--tls-key", "PRIVATE KEY")?;
        let client_ca = client_ca
            .map(|path| read_pem(path, "--tls-client-ca", "CERTIFICATE"))
            .transpose()?;
        let settings = Self::from_pem(cert_chain, key, client_ca);
        settings.validate()?;
        Ok(settings)
    }

    /// Builds the rustls configuration once, so a key that does not match
    /// its certificate, or a damaged PEM block, stops the start-up before
    /// anything else happens.
    pub fn validate(&self) -> Result<(), String> {
        Server::builder()
            .tls_config(self.server_config())
            .map(drop)
            .map_err(|e| format!("TLS: {}", error_chain(&e)))
    }

    pub fn server_config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_chain, &self.key))
            .timeout(HANDSHAKE_TIMEOUT);
        match &self.client_ca {
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
            None => config,
        }
    }
}

/// Reads `path` and checks it has a PEM block whose label ends with `label`
/// (so `PRIVATE KEY` also matches `RSA PRIVATE KEY` and `EC PRIVATE KEY`).
fn read_pem(path: &Path, flag: &str, label: &str) -> Result<Vec<u8>, String> {
    let pem =
        std::fs::read(path).map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&pem);
    let found = text.lines().any(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|found| found.ends_with(label))
    });
    if !found {
        return Err(format!(
            "{flag} {} has no PEM block of type {label}",
            path.display()
        ));
    }
    Ok(pem)
}

/// tonic's transport error prints only "transport error"; the cause is in its sources.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_file_that_holds_the_wrong_thing() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(
            &key,
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        let damaged = TlsSettings::from_files(&cert, &key, None).unwrap_err();
        assert!(damaged.starts_with("TLS: "), "{damaged}");
        let swapped = TlsSettings::from_files(&key, &cert, None).unwrap_err();
        assert!(swapped.starts_with("--tls-cert"), "{swapped}");
        let missing =
            TlsSettings::from_files(&cert, &key, Some(&dir.path().join("nope"))).unwrap_err();
        assert!(
            missing.starts_with("cannot read --tls-client-ca"),
            "{missing}"
        );
    }
}
