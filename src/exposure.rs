//! Start-up warnings for a server that other machines can reach without
//! TLS or without tokens. Loopback (the default) needs neither.

use std::net::SocketAddr;

use crate::server::ServerOptions;

/// What is missing to serve `listen` safely to other machines.
pub fn warnings(listen: SocketAddr, options: &ServerOptions) -> Vec<String> {
    if listen.ip().is_loopback() {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    if options.tls.is_none() {
        warnings.push(format!(
            "{listen} is reachable from other machines and TLS is off: calls, data and tokens \
             travel in clear text (set --tls-cert and --tls-key)"
        ));
    }
    if options.auth.is_none() {
        warnings.push(format!(
            "{listen} is reachable from other machines and no token is required: anyone who \
             can connect can read and write (set --auth-token-file)"
        ));
    }
    warnings
}

pub fn warn(listen: SocketAddr, options: &ServerOptions) {
    for warning in warnings(listen, options) {
        tracing::warn!("{warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{auth::BearerTokens, tls::TlsSettings};

    #[test]
    fn warns_only_off_loopback_and_only_about_what_is_missing() {
        let open = ServerOptions::default();
        assert!(warnings("127.0.0.1:50051".parse().unwrap(), &open).is_empty());
        assert!(warnings("[::1]:50051".parse().unwrap(), &open).is_empty());
        let all = "0.0.0.0:50051".parse().unwrap();
        let both = warnings(all, &open);
        assert_eq!(both.len(), 2, "{both:?}");
        assert!(both[0].contains("--tls-cert") && both[1].contains("--auth-token-file"));
        let secured = ServerOptions {
            tls: Some(TlsSettings::from_pem("cert", "key", None)),
            auth: Some(BearerTokens::new(["a-long-enough-token"]).unwrap()),
            ..ServerOptions::default()
        };
        assert!(warnings(all, &secured).is_empty());
    }
}
