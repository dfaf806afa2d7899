//! gRPC-Web on the gRPC listener, so the dashboard in a browser calls the
//! same RPCs, streams, cursors and tokens as any other client. tonic-web
//! translates each gRPC-Web call into a gRPC call before the other layers
//! see it, so the token check, the limits and the deadline apply unchanged.
//!
//! The dashboard is served from another port than the API, so a browser
//! asks first (CORS): only the dashboard's origins are allowed. A page from
//! any other origin cannot read an answer, nor send the `authorization`
//! header.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tower::layer::util::{Identity, Stack};
use tower::util::{Either, option_layer};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may reuse the answer to a preflight request.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Request headers the generated gRPC-Web client (connect-web) sends.
const REQUEST_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
];

/// Response headers a page must read to know the outcome of a call that
/// ends without a body (an error such as UNAUTHENTICATED).
const RESPONSE_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// gRPC-Web for browsers from these origins (see [`super::origins`]).
#[derive(Clone, Debug)]
pub struct GrpcWebOptions {
    pub allowed_origins: Vec<String>,
}

impl GrpcWebOptions {
    fn cors(&self) -> CorsLayer {
        let origins: Vec<HeaderValue> = self
            .allowed_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::POST])
            .allow_headers(REQUEST_HEADERS.map(HeaderName::from_static))
            .expose_headers(RESPONSE_HEADERS.map(HeaderName::from_static))
            .max_age(PREFLIGHT_MAX_AGE)
    }
}

/// The layer of the gRPC listener: CORS outside, so that preflight requests
/// (which carry no token) are answered before the token check, then the
/// gRPC-Web translation. `None`: nothing, the listener speaks gRPC only.
pub type GrpcWebLayer = Either<Stack<tonic_web::GrpcWebLayer, CorsLayer>, Identity>;

pub fn layer(options: Option<&GrpcWebOptions>) -> GrpcWebLayer {
    option_layer(options.map(|options| Stack::new(tonic_web::GrpcWebLayer::new(), options.cors())))
}
