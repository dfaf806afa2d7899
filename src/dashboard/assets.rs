//! The dashboard's files, built by `dashboard/build.sh` into `dashboard/dist/`
//! (committed) and embedded in the binary, so serving them needs no Node and
//! no file next to the binary. `include_bytes!` rather than a crate: the set
//! is fixed (esbuild writes these three names), and it embeds in debug
//! builds too, so the tests see what a release serves.

use axum::{
    Router,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: [Asset; 3] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../dashboard/dist/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../dashboard/dist/app.js"),
    },
    Asset {
        path: "/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../dashboard/dist/app.css"),
    },
];

/// Scripts and styles only from this server (no inline script, so injected
/// markup cannot run); calls to any http(s) origin, because the API is on
/// another port whose host name is the one the browser used.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self' http: https:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Every embedded file at its path; anything else is 404, and a method other
/// than GET or HEAD is 405.
pub fn routes(router: Router) -> Router {
    ASSETS.iter().fold(router, |router, asset| {
        router.route(asset.path, get(move || async move { respond(asset) }))
    })
}

fn respond(asset: &'static Asset) -> Response {
    with_common_headers(([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response())
}

/// Headers of every answer: no caching without asking (a new binary serves
/// new files under the same names), no type sniffing, no framing.
pub fn with_common_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

pub async fn not_found() -> Response {
    with_common_headers((StatusCode::NOT_FOUND, "not found\n").into_response())
}
