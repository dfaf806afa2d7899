//! Bearer-token authentication: a tower layer in front of every service
//! except `grpc.health.v1.Health`, which load balancers and orchestrators
//! probe without credentials. Server reflection is behind the token too: it
//! describes the whole API and no probe needs it.

use std::{fmt, path::Path, sync::Arc};

use subtle::{Choice, ConstantTimeEq};
use tonic::{Status, body::Body};
use tower::Service;

use crate::guard::{Answer, Guard, GuardLayer};

/// Paths that never need a token.
const OPEN_PREFIX: &str = "/grpc.health.v1.Health/";

/// Tokens shorter than this are accepted, with a warning at start-up.
const RECOMMENDED_TOKEN_LENGTH: usize = 16;

/// The accepted bearer tokens. Never printed.
#[derive(Clone)]
pub struct BearerTokens {
    tokens: Vec<Vec<u8>>,
}

impl fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerTokens({} redacted)", self.tokens.len())
    }
}

impl BearerTokens {
    /// Accepts any of `tokens`. Each must be non-empty printable ASCII
    /// without spaces, as it has to fit in an `authorization` header.
    pub fn new<I, T>(tokens: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let tokens: Vec<Vec<u8>> = tokens.into_iter().map(|t| t.into().into_bytes()).collect();
        if tokens.is_empty() {
            return Err("no token given".into());
        }
        for (index, token) in tokens.iter().enumerate() {
            if token.is_empty() || !token.iter().all(u8::is_ascii_graphic) {
                return Err(format!(
                    "token {} is empty or has characters other than printable ASCII without spaces",
                    index + 1
                ));
            }
            if token.len() < RECOMMENDED_TOKEN_LENGTH {
                tracing::warn!(
                    token = index + 1,
                    "a bearer token is shorter than {RECOMMENDED_TOKEN_LENGTH} characters; it is easy to guess"
                );
            }
        }
        Ok(Self { tokens })
    }

    /// Reads one token per line. Blank lines and lines starting with `#` are
    /// skipped; surrounding whitespace (and a `\r`) is not part of a token.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
        let tokens = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned);
        Self::new(tokens).map_err(|e| format!("token file {}: {e}", path.display()))
    }

    /// Compares against every token, without stopping early, so the time taken
    /// does not tell which token (or how much of one) matched. Only a token's
    /// length can leak, which is not secret enough to matter.
    fn accepts(&self, presented: &[u8]) -> bool {
        let mut matched = Choice::from(0);
        for token in &self.tokens {
            matched |= token.as_slice().ct_eq(presented);
        }
        matched.into()
    }

    /// Checks the `authorization` metadata of a request.
    fn check(&self, headers: &http::HeaderMap) -> Result<(), Status> {
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err(Status::unauthenticated(
                "missing credentials: send the metadata `authorization: Bearer <token>`",
            ));
        };
        let Some(token) = bearer_token(value.as_bytes()) else {
            return Err(Status::unauthenticated(
                "the authorization metadata must be `Bearer <token>`",
            ));
        };
        if self.accepts(token) {
            Ok(())
        } else {
            Err(Status::unauthenticated("the bearer token is not valid"))
        }
    }
}

/// The token of a `Bearer <token>` value; the scheme is case-insensitive (RFC 7235).
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    if value.len() <= SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let token = value[SCHEME.len()..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Requires a valid bearer token when `tokens` is set; passes everything otherwise.
pub type AuthLayer = GuardLayer<TokenGuard>;

impl AuthLayer {
    pub fn new(tokens: Option<BearerTokens>) -> Self {
        GuardLayer(TokenGuard {
            tokens: tokens.map(Arc::new),
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct TokenGuard {
    tokens: Option<Arc<BearerTokens>>,
}

impl Guard for TokenGuard {
    fn call<S, B>(&self, inner: &mut S, request: http::Request<B>) -> Answer<S::Error>
    where
        S: Service<http::Request<B>, Response = http::Response<Body>>,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
    {
        if let Some(tokens) = &self.tokens
            && !request.uri().path().starts_with(OPEN_PREFIX)
            && let Err(status) = tokens.check(request.headers())
        {
            tracing::info!(path = %request.uri().path(), reason = %status.message(), "refused an unauthenticated call");
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        Box::pin(inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn accepts_any_configured_token_and_nothing_else() {
        let tokens = BearerTokens::new(["first-token-0123456", "second-token-987654"]).unwrap();
        assert!(tokens.check(&headers("Bearer first-token-0123456")).is_ok());
        assert!(tokens.check(&headers("bearer second-token-987654")).is_ok());
        assert!(
            tokens
                .check(&headers("BEARER  first-token-0123456 "))
                .is_ok()
        );
        for wrong in [
            "Bearer first-token-012345",
            "Bearer first-token-01234567",
            "Bearer",
            "Bearer ",
            "Basic first-token-0123456",
            "first-token-0123456",
        ] {
            let status = tokens.check(&headers(wrong)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{wrong}");
        }
        let missing = tokens.check(&http::HeaderMap::new()).unwrap_err();
        assert!(missing.message().contains("missing"), "{missing:?}");
    }

    #[test]
    fn refuses_unusable_tokens() {
        assert!(BearerTokens::new(Vec::<String>::new()).is_err());
        assert!(BearerTokens::new(["has space in it 1234"]).is_err());
        assert!(BearerTokens::new(["tab\tinside-0123456789"]).is_err());
    }

    #[test]
    fn reads_a_token_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(
            &path,
            "# ops\n\n  alpha-token-0123456789 \r\nbeta-token-0123456789\n",
        )
        .unwrap();
        let tokens = BearerTokens::from_file(&path).unwrap();
        assert_eq!(tokens.tokens.len(), 2);
        assert!(tokens.accepts(b"alpha-token-0123456789"));
        assert!(!format!("{tokens:?}").contains("alpha"));
        std::fs::write(&path, "# only a comment\n").unwrap();
        let error = BearerTokens::from_file(&path).unwrap_err();
        assert!(error.contains("no token"), "{error}");
    }
}
