//! TLS of the client: the CA that signed the server's certificate, and the
//! client certificate for mutual TLS.

use std::path::Path;

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use super::{ConnectOptions, failure::Failure};

pub fn config(options: &ConnectOptions) -> Result<ClientTlsConfig, Failure> {
    // This build has no system trust store (tonic's `tls-ring` only), so
    // the CA must be named; without it every handshake would fail anyway.
    let ca = options.tls_ca.as_deref().ok_or_else(|| {
        Failure::Message(
            "an https:// server needs --tls-ca <PEM>: the CA that signed its certificate".into(),
        )
    })?;
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_pem(
        ca,
        "--tls-ca",
        "CERTIFICATE",
    )?));
    if let (Some(cert), Some(key)) = (&options.tls_cert, &options.tls_key) {
        config = config.identity(Identity::from_pem(
            read_pem(cert, "--tls-cert", "CERTIFICATE")?,
            read_pem(key, "--tls-key", "PRIVATE KEY")?,
        ));
    }
    Ok(config)
}

/// Reads a PEM file and checks it holds what the flag expects, so a swapped
/// or empty file is named here rather than reported as a handshake error.
fn read_pem(path: &Path, flag: &str, label: &str) -> Result<Vec<u8>, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::Message(format!("{flag} {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let has_label = text
        .lines()
        .any(|line| line.starts_with("-----BEGIN ") && line.contains(label));
    if !has_label {
        return Err(Failure::Message(format!(
            "{flag} {}: no PEM {label} in it",
            path.display()
        )));
    }
    Ok(bytes)
}
