//! `--db postgres://user:password@host:port/dbname?sslmode=...`: the URL as
//! libpq spells it. tokio-postgres reads host, port, user, password, dbname,
//! application_name, connect_timeout and options; `sslmode` and
//! `sslrootcert` are read here, because rustls (not OpenSSL) does the TLS and
//! tokio-postgres knows neither `verify-full` nor `sslrootcert`.

use std::{fmt, path::PathBuf, str::FromStr};

use percent_encoding::percent_decode_str;

/// How the connection is encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP (`disable`, and `prefer`/`allow` without a CA to verify with).
    Disable,
    /// TLS, the server's certificate verified against the CA, host name
    /// included (`require` and `verify-full`: rustls always checks the name).
    Verify,
}

#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    /// The URL without the parameters read here.
    connect: String,
    pub ssl: SslMode,
    /// `sslrootcert` of the URL (`--pg-ca` overrides it).
    pub root_cert: Option<PathBuf>,
}

impl PostgresUrl {
    pub fn config(&self) -> Result<tokio_postgres::Config, String> {
        let mut config = tokio_postgres::Config::from_str(&self.connect)
            .map_err(|e| format!("the PostgreSQL URL is not valid: {e}"))?;
        if config.get_application_name().is_none() {
            config.application_name("learning-service");
        }
        config.ssl_mode(match self.ssl {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Verify => tokio_postgres::config::SslMode::Require,
        });
        Ok(config)
    }
}

impl FromStr for PostgresUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // tokio-postgres reads the scheme in lower case only.
        let scheme_end = text.find("://").map_or(0, |at| at + 3);
        let text = &format!(
            "{}{}",
            text[..scheme_end].to_ascii_lowercase(),
            &text[scheme_end..]
        );
        let (base, query) = text.split_once('?').unwrap_or((text, ""));
        let mut kept = Vec::new();
        let mut ssl = SslMode::Disable;
        let mut root_cert = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
            match key {
                "sslmode" => {
                    ssl = match value.as_str() {
                        "disable" | "allow" | "prefer" => SslMode::Disable,
                        "require" | "verify-full" => SslMode::Verify,
                        other => {
                            return Err(format!(
                                "sslmode={other} is not supported (disable, prefer, require or \
                                 verify-full; require verifies the certificate as verify-full does)"
                            ));
                        }
                    }
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(value)),
                _ => kept.push(pair),
            }
        }
        let connect = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let url = Self {
            connect,
            ssl,
            root_cert,
        };
        url.config()?;
        Ok(url)
    }
}

/// The URL without its password, for logs and messages.
impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = &self.connect;
        let shown = match (text.find("://"), text.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let credentials = &text[scheme + 3..at];
                match credentials.split_once(':') {
                    Some((user, _)) => format!("{}{user}:***{}", &text[..scheme + 3], &text[at..]),
                    None => text.clone(),
                }
            }
            _ => text.clone(),
        };
        let base = shown.split_once('?').map_or(shown.as_str(), |(b, _)| b);
        f.write_str(base)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_libpq_options() {
        let url: PostgresUrl = "postgres://app:s3cret@db.example:5433/learning?sslmode=verify-full\
                                &sslrootcert=%2Fetc%2Fca.pem&application_name=replica-a"
            .parse()
            .unwrap();
        assert_eq!(url.ssl, SslMode::Verify);
        assert_eq!(url.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        let config = url.config().unwrap();
        assert_eq!(config.get_user(), Some("app"));
        assert_eq!(config.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(config.get_dbname(), Some("learning"));
        assert_eq!(config.get_ports(), &[5433]);
        assert_eq!(config.get_application_name(), Some("replica-a"));
        assert_eq!(
            url.to_string(),
            "postgres://app:***@db.example:5433/learning"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn plain_by_default_and_unknown_modes_refused() {
        let url: PostgresUrl = "postgresql://localhost/learning".parse().unwrap();
        assert_eq!(url.ssl, SslMode::Disable);
        assert_eq!(
            url.config().unwrap().get_application_name(),
            Some("learning-service")
        );
        let refused = "postgres://localhost/x?sslmode=verify-ca".parse::<PostgresUrl>();
        assert!(refused.unwrap_err().contains("verify-ca"));
        assert!(
            "postgres://localhost/x?port=notanumber"
                .parse::<PostgresUrl>()
                .is_err()
        );
    }
}
