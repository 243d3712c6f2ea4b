//! The agent TOML configuration.

mod secret;

pub use secret::Secret;
