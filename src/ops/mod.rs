//! What operators touch: metrics, logs and traces of every call.

pub mod call_end;
pub mod methods;
pub mod metrics;
pub mod observe;
pub mod request_span;
pub mod telemetry;
