//! An authenticated call as action handlers see it: its action and its
//! parameters, with typed accessors that refuse bad values by name.

use std::str::FromStr;

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
    /// A parameter's value, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be given.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::missing(name))
    }

    /// An optional parameter parsed as `T`.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(name)
            .map(|v| v.parse().map_err(|e| ApiError::invalid(name, e)))
            .transpose()
    }

    /// A required parameter parsed as `T`.
    pub fn parse_required<T: FromStr>(&self, name: &str) -> Result<T, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.parse(name)?.ok_or_else(|| ApiError::missing(name))
    }
}
