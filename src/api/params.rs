//! The form parameters of a call, read by name: a missing or malformed
//! value is refused with the API's error that names the parameter.
//!
//! The control plane reads every action's parameters through this, and the
//! gateway requests of [`super::gateway`] parse themselves with it.

use std::str::FromStr;

use serde::de::DeserializeOwned;

use super::{bounds, ApiError};

/// The parameters of one call, in order.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Params<'a> {
    /// Reads `pairs` (query and form parameters, decoded).
    pub fn new(pairs: &'a [(String, String)]) -> Self {
        Params { pairs }
    }

    /// A parameter's value, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be given.
    pub fn require(&self, name: &str) -> Result<&'a str, ApiError> {
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

    /// An optional JSON parameter of at most `max_bytes`, parsed as `T`.
    pub fn json<T: DeserializeOwned>(
        &self,
        name: &str,
        max_bytes: usize,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|text| {
                bounds::json_size(text, max_bytes).map_err(|e| ApiError::invalid(name, e))?;
                serde_json::from_str(text).map_err(|e| ApiError::invalid(name, e))
            })
            .transpose()
    }
}

/// Owned parameter pairs, as a server receives them.
#[cfg(test)]
pub(crate) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_value_counts_as_absent() {
        let given = pairs(&[("A", ""), ("B", "7")]);
        let params = Params::new(&given);
        assert_eq!(params.get("A"), None);
        assert_eq!(params.require("A").unwrap_err().code, "MissingParameter.A");
        assert_eq!(params.parse_required::<u8>("B"), Ok(7));
    }

    #[test]
    fn malformed_values_are_refused_by_name() {
        let given = pairs(&[("N", "x"), ("J", "[1,"), ("Big", "[1,2,3]")]);
        let params = Params::new(&given);
        assert_eq!(
            params.parse::<u8>("N").unwrap_err().code,
            "InvalidParameter.N"
        );
        assert_eq!(
            params.json::<Vec<u8>>("J", 100).unwrap_err().code,
            "InvalidParameter.J"
        );
        assert_eq!(
            params.json::<Vec<u8>>("Big", 3).unwrap_err().code,
            "InvalidParameter.Big"
        );
        assert_eq!(params.json::<Vec<u8>>("Absent", 3), Ok(None));
    }
}
