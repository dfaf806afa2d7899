//! learning-service: the exploration budget and automatic entropy response of
//! the learning store, served over gRPC (package `learning.v1`).

pub mod api;
pub mod background;
pub mod config;
pub mod domain;
pub mod feed;
pub mod pb;
pub mod server;
pub mod store;
