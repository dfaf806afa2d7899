//! The gRPC layer: validate, convert, call the store, map errors.

mod budget;
pub mod codec;
pub mod convert;
mod diversity;
mod entropy;
mod explanation;
mod history_cache;
pub mod history_response;
pub mod idempotency;
mod page_token;
mod patterns;
mod replay;
mod status;
pub mod subscription;
pub mod validate;

pub use budget::BudgetApi;
pub use entropy::EntropyApi;
pub use patterns::PatternApi;
