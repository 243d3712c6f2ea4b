//! Helpers shared by the integration tests: real processes and servers, an
//! HTTP server with Range support and fault injection, a small tmpfs.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod control;
pub mod http_range_server;
pub mod tmpfs;
