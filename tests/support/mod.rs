//! Helpers shared by the integration tests: an HTTP server with Range
//! support and fault injection, and a small tmpfs mounted for one test.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod http_range_server;
pub mod tmpfs;
