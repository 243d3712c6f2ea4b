//! The choice between the whole file, one byte range, or 416, for a
//! request's `Range` and `If-Range` against a strong `ETag`.
//!
//! Range syntax is parsed by `http-range-header`, the parser tower-http
//! itself uses.

use std::ops::RangeInclusive;

/// What to send for a request's `Range` and `If-Range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// 200 with every byte.
    Whole,
    /// 206 with these bytes.
    Part(RangeInclusive<u64>),
    /// 416.
    Unsatisfiable,
}

/// Decides between the whole file, one range, or 416. An `If-Range` that is
/// not exactly the (strong) ETag, or is a date, sends the whole file.
pub fn choose(size: u64, etag: &str, range: Option<&str>, if_range: Option<&str>) -> Choice {
    let Some(range) = range else {
        return Choice::Whole;
    };
    if if_range.is_some_and(|v| v.trim() != etag) {
        return Choice::Whole;
    }
    if size == 0 {
        // No byte of an empty set can be asked for (the parser would
        // answer 0-0 here).
        return Choice::Unsatisfiable;
    }
    let ranges = http_range_header::parse_range_header(range)
        .ok()
        .and_then(|parsed| parsed.validate(size).ok());
    match ranges.as_deref() {
        Some([one]) => Choice::Part(one.clone()),
        _ => Choice::Unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "\"abc\"";

    #[test]
    fn ranges_and_if_range() {
        assert_eq!(choose(10, ETAG, None, None), Choice::Whole);
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-"), None),
            Choice::Part(2..=9)
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-4"), None),
            Choice::Part(2..=4)
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=-3"), None),
            Choice::Part(7..=9)
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-40"), None),
            Choice::Part(2..=9)
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-"), Some(ETAG)),
            Choice::Part(2..=9)
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-"), Some("\"other\"")),
            Choice::Whole
        );
        assert_eq!(
            choose(10, ETAG, Some("bytes=2-"), Some("W/\"abc\"")),
            Choice::Whole
        );
        assert_eq!(
            choose(
                10,
                ETAG,
                Some("bytes=2-"),
                Some("Wed, 21 Oct 2015 07:28:00 GMT")
            ),
            Choice::Whole
        );
        for bad in [
            "bytes=10-",
            "bytes=5-2",
            "bytes=0-1,3-4",
            "pages=1-2",
            "bytes=x-",
        ] {
            assert_eq!(
                choose(10, ETAG, Some(bad), None),
                Choice::Unsatisfiable,
                "{bad}"
            );
        }
        assert_eq!(
            choose(0, ETAG, Some("bytes=0-"), None),
            Choice::Unsatisfiable
        );
    }
}
