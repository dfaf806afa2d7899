//! The bearer token: read once, sent on every call.

use std::{fmt, path::Path};

use tonic::{
    Request, Status,
    metadata::{AsciiMetadataValue, MetadataValue},
    service::Interceptor,
};

use super::{ConnectOptions, failure::Failure};

/// Environment variable holding the token itself, for scripts and CI
/// secrets. There is no flag for it: a command line is visible to every
/// user of the machine.
const TOKEN_VARIABLE: &str = "LEARNING_TOKEN";

/// Adds `authorization: Bearer <token>` to every call, when there is a token.
#[derive(Clone)]
pub struct BearerToken(Option<AsciiMetadataValue>);

// Never print the token.
impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.0.is_some() { "set" } else { "none" };
        write!(f, "BearerToken({state})")
    }
}

impl BearerToken {
    pub fn from_options(options: &ConnectOptions) -> Result<Self, Failure> {
        let token = match &options.token_file {
            Some(path) => Some(read_token_file(path)?),
            None => std::env::var(TOKEN_VARIABLE)
                .ok()
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty()),
        };
        token
            .map(|token| Self::header(&token))
            .transpose()
            .map(Self)
    }

    fn header(token: &str) -> Result<AsciiMetadataValue, Failure> {
        // A header value must be visible ASCII; a space would also split the
        // token from the scheme on the server's side.
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Failure::Message(
                "the bearer token has characters other than printable ASCII without spaces".into(),
            ));
        }
        MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Failure::Message("the bearer token is not a valid header value".into()))
    }
}

fn read_token_file(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Message(format!("--token-file {}: {e}", path.display())))?;
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .ok_or_else(|| Failure::Message(format!("--token-file {}: no token in it", path.display())))
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_skip_comments_and_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "# rotated monthly\n\n  s3cret-token \nsecond\n").unwrap();
        assert_eq!(read_token_file(&path).unwrap(), "s3cret-token");
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(read_token_file(&path).is_err());
        assert!(BearerToken::header("has space").is_err());
        let header = BearerToken::header("abc").unwrap();
        assert_eq!(header.to_str().unwrap(), "Bearer abc");
    }
}
