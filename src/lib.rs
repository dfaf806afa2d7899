//! learning-service: the exploration budget and automatic entropy response of
//! the learning store, served over gRPC (package `learning.v1`).

pub mod api;
pub mod auth;
pub mod background;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod exposure;
pub mod feed;
pub mod health;
pub mod limits;
pub mod ops;
pub mod pb;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod tls;
