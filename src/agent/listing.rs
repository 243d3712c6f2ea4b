//! Fits a database listing into one task report.
//!
//! dbs-control takes request bodies of 64 KiB, so a listing is sent whole
//! only while its form-encoded JSON stays under [`MAX_ENCODED_BYTES`]; a
//! larger one keeps the names alone, and a larger one still the first names
//! that fit, marked `Truncated` with the `DatabaseCount` of the host. The
//! shape is the wire's [`DbListResult`], which dbs-control reads back.

use serde_json::Value;

use crate::api::gateway::DbListResult;
use crate::discovery::{DatabaseInfo, DbListing};

/// Most bytes a listing takes in a report, form-encoded (the rest of the
/// report stays well under the control plane's 64 KiB).
pub const MAX_ENCODED_BYTES: usize = 40 * 1024;

/// The listing as a report's `Result`.
pub fn report_result(listing: DbListing) -> Value {
    let to_value = |value: &DatabaseInfo| serde_json::to_value(value).expect("an entry serializes");
    let whole = result_value(&DbListResult {
        databases: listing.databases.iter().map(to_value).collect(),
        ..DbListResult::default()
    });
    if encoded_len(&whole) <= MAX_ENCODED_BYTES {
        return whole;
    }
    let count = listing.databases.len();
    let names: Vec<Value> = listing
        .names()
        .into_iter()
        .map(|name| to_value(&DatabaseInfo::named(name)))
        .collect();
    let names_only = DbListResult {
        databases: names,
        details_omitted: true,
        ..DbListResult::default()
    };
    let value = result_value(&names_only);
    if encoded_len(&value) <= MAX_ENCODED_BYTES {
        return value;
    }
    // Room for the envelope, then names while they fit.
    let mut budget = MAX_ENCODED_BYTES - 256;
    let kept: Vec<Value> = names_only
        .databases
        .into_iter()
        .take_while(|entry| {
            let cost = encoded_len(entry) + 3;
            let fits = cost <= budget;
            budget = budget.saturating_sub(cost);
            fits
        })
        .collect();
    result_value(&DbListResult {
        databases: kept,
        details_omitted: true,
        truncated: true,
        database_count: Some(count),
    })
}

fn result_value(result: &DbListResult) -> Value {
    serde_json::to_value(result).expect("a listing serializes")
}

fn encoded_len(value: &Value) -> usize {
    form_urlencoded::byte_serialize(value.to_string().as_bytes())
        .map(str::len)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(count: usize) -> DbListing {
        DbListing {
            databases: (0..count)
                .map(|i| DatabaseInfo {
                    size_bytes: Some(123_456_789),
                    tables: Some(42),
                    ..DatabaseInfo::named(format!("tenant_database_{i:05}"))
                })
                .collect(),
        }
    }

    #[test]
    fn a_small_listing_is_sent_whole() {
        let result = report_result(listing(3));
        assert_eq!(result["Databases"][2]["Tables"], 42);
        assert!(result.get("Truncated").is_none());
    }

    #[test]
    fn a_larger_listing_keeps_every_name_without_details() {
        let result = report_result(listing(700));
        assert!(encoded_len(&result) <= MAX_ENCODED_BYTES);
        assert_eq!(result["Databases"].as_array().unwrap().len(), 700);
        assert_eq!(result["DetailsOmitted"], true);
        assert!(result["Databases"][0].get("Tables").is_none());
    }

    #[test]
    fn a_huge_listing_keeps_the_first_names_that_fit_and_says_so() {
        let result = report_result(listing(20_000));
        assert!(encoded_len(&result) <= MAX_ENCODED_BYTES);
        assert_eq!(result["Truncated"], true);
        assert_eq!(result["DatabaseCount"], 20_000);
        let kept = result["Databases"].as_array().unwrap();
        assert!(kept.len() > 500, "{}", kept.len());
        assert_eq!(kept[0]["Name"], "tenant_database_00000");
    }
}
