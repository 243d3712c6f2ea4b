//! Helpers shared by the integration tests: real processes and servers.
#![allow(dead_code)]

pub mod control;
