//! Code generated from `proto/learning/v1/learning.proto`.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("learning.v1");

/// Not generated: see `api::history_response`.
pub use crate::api::history_response::GetExplorationBudgetHistoryResponse;

/// Encoded descriptors of learning.v1, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("learning_descriptor");

// The servers (build.rs), whose streams send messages encoded once for all
// their subscribers.
include!(concat!(env!("OUT_DIR"), "/learning.v1.BudgetService.rs"));
include!(concat!(env!("OUT_DIR"), "/learning.v1.EntropyService.rs"));
include!(concat!(env!("OUT_DIR"), "/learning.v1.PatternService.rs"));
