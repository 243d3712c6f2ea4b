//! agent (filled in by the foundation work)

pub mod notify;
