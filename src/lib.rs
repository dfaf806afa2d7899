//! learning-service: the exploration budget and automatic entropy response of
//! the learning store, served over gRPC (package `learning.v1`).

pub mod api;
pub mod auth;
pub mod background;
pub mod call_limit;
pub mod config;
pub mod connections;
pub mod dashboard;
pub mod deadline;
pub mod domain;
pub mod exposure;
pub mod feed;
pub mod guard;
pub mod health;
pub mod limits;
pub mod ops;
pub mod pb;
pub mod request_body;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod tls;
