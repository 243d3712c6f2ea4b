//! An authenticated call as action handlers see it: its action and its
//! parameters, with typed accessors that refuse bad values by name.

use std::str::FromStr;

use crate::api::params::Params;
use crate::api::ApiError;

use super::auth::Caller;

/// An authenticated call.
pub struct Call {
    /// Request id, echoed in the answer.
    pub request_id: String,
    /// The action.
    pub action: String,
    /// Query and form parameters, in order.
    pub params: Vec<(String, String)>,
    /// Who made the call.
    pub caller: Caller,
}

impl Call {
    /// The parameters, read by name.
    pub fn params(&self) -> Params<'_> {
        Params::new(&self.params)
    }

    /// A parameter's value, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params().get(name)
    }

    /// A parameter that must be given.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.params().require(name)
    }

    /// An optional parameter parsed as `T`.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.params().parse(name)
    }

    /// A required parameter parsed as `T`.
    pub fn parse_required<T: FromStr>(&self, name: &str) -> Result<T, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.params().parse_required(name)
    }
}
