//! A request over the message size limit is RESOURCE_EXHAUSTED, as gRPC
//! specifies ("Received message larger than max") and as the Go, Java and C++
//! servers answer. tonic answers OUT_OF_RANGE instead; this layer rewrites
//! that one status, recognised by tonic's message, and nothing else.

use http::{HeaderValue, Response};
use percent_encoding::percent_decode;
use tonic::Code;
use tower::util::MapResponseLayer;

/// How tonic's decoder words the refusal of an over-limit message.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

pub type OversizedLayer<B> = MapResponseLayer<fn(Response<B>) -> Response<B>>;

pub fn layer<B>() -> OversizedLayer<B> {
    MapResponseLayer::new(resource_exhausted_when_too_large::<B>)
}

fn resource_exhausted_when_too_large<B>(mut response: Response<B>) -> Response<B> {
    let headers = response.headers_mut();
    let out_of_range = HeaderValue::from(Code::OutOfRange as i32);
    let too_large = headers.get("grpc-status") == Some(&out_of_range)
        && headers
            .get("grpc-message")
            .map(|message| percent_decode(message.as_bytes()).decode_utf8_lossy())
            .is_some_and(|message| message.starts_with(TONIC_TOO_LARGE));
    if too_large {
        headers.insert(
            "grpc-status",
            HeaderValue::from(Code::ResourceExhausted as i32),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: i32, message: &str) -> Response<()> {
        let mut response = Response::new(());
        response
            .headers_mut()
            .insert("grpc-status", HeaderValue::from(status));
        response
            .headers_mut()
            .insert("grpc-message", HeaderValue::from_str(message).unwrap());
        response
    }

    fn status_of(response: &Response<()>) -> &HeaderValue {
        response.headers().get("grpc-status").unwrap()
    }

    #[test]
    fn only_the_size_refusal_is_rewritten() {
        // As tonic sends it: percent-encoded.
        let too_large = response(
            11,
            "Error,%20decoded%20message%20length%20too%20large:%20found%205242901%20bytes",
        );
        assert_eq!(
            status_of(&resource_exhausted_when_too_large(too_large)),
            "8"
        );
        let other = response(11, "something else");
        assert_eq!(status_of(&resource_exhausted_when_too_large(other)), "11");
        let invalid = response(3, "Error,%20decoded%20message%20length%20too%20large");
        assert_eq!(status_of(&resource_exhausted_when_too_large(invalid)), "3");
    }
}
