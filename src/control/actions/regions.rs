//! DescribeRegions.

use serde_json::{json, Value};

use crate::api::ApiError;
use crate::control::ControlPlane;

/// `{"Regions": {"RegionCode": [...]}}`.
pub fn describe_regions(plane: &ControlPlane) -> Result<Value, ApiError> {
    Ok(json!({ "Regions": { "RegionCode": plane.settings.regions } }))
}
