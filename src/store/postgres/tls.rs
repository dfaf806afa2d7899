//! TLS to the database with rustls (the same TLS stack as the gRPC side; no
//! OpenSSL): the server's certificate is verified against the CA of
//! `--pg-ca` or of the URL's `sslrootcert`, host name included.

use std::{path::Path, sync::Arc};

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, pem::PemObject};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::{StoreError, StoreResult};

pub fn connector(ca: Option<&Path>) -> StoreResult<MakeRustlsConnect> {
    let Some(ca) = ca else {
        return Err(StoreError::Refused(
            "sslmode=require/verify-full needs the CA of the database's certificate: \
             give --pg-ca FILE or sslrootcert=FILE in the URL"
                .into(),
        ));
    };
    let refused = |e: &dyn std::fmt::Display| {
        StoreError::Refused(format!("cannot read the CA file {}: {e}", ca.display()))
    };
    let mut roots = RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(ca).map_err(|e| refused(&e))?;
    for certificate in certificates {
        roots
            .add(certificate.map_err(|e| refused(&e))?)
            .map_err(|e| refused(&e))?;
    }
    if roots.is_empty() {
        return Err(refused(&"it holds no certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Refused(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
