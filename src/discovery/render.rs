//! Human-readable output of a listing for the `list-dbs` command. JSON output
//! is the serde serialization of [`DbListing`].

use super::{DatabaseInfo, DbListing};

/// A column: its header and how to read a cell; shown only when some
/// database has a value for it.
struct Column {
    header: &'static str,
    cell: fn(&DatabaseInfo) -> Option<String>,
    right_aligned: bool,
}

const COLUMNS: [Column; 6] = [
    Column {
        header: "NAME",
        cell: |d| Some(d.name.clone()),
        right_aligned: false,
    },
    Column {
        header: "SIZE",
        cell: |d| d.size_bytes.map(human_bytes),
        right_aligned: true,
    },
    Column {
        header: "TABLES",
        cell: |d| d.tables.map(|n| n.to_string()),
        right_aligned: true,
    },
    Column {
        header: "KEYS",
        cell: |d| d.keys.map(|n| n.to_string()),
        right_aligned: true,
    },
    Column {
        header: "STATE",
        cell: |d| d.state.clone(),
        right_aligned: false,
    },
    Column {
        header: "RECOVERY MODEL",
        cell: |d| d.recovery_model.clone(),
        right_aligned: false,
    },
];

/// A plain-text table, one line per database, then a count line.
pub fn render_table(listing: &DbListing) -> String {
    let columns: Vec<&Column> = COLUMNS
        .iter()
        .filter(|c| listing.databases.iter().any(|d| (c.cell)(d).is_some()))
        .collect();
    let rows: Vec<Vec<String>> = listing
        .databases
        .iter()
        .map(|d| {
            columns
                .iter()
                .map(|c| (c.cell)(d).unwrap_or_else(|| "-".into()))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([c.header.len()])
                .max()
                .unwrap_or_default()
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&columns)
            .zip(&widths)
            .map(|((cell, col), &w)| {
                if col.right_aligned {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = String::new();
    if !rows.is_empty() {
        out.push_str(&line(columns.iter().map(|c| c.header).collect()));
        for row in &rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
    }
    let n = listing.databases.len();
    out.push_str(&format!("{n} database{}\n", if n == 1 { "" } else { "s" }));
    out
}

/// `16384` → `16.0 KiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_listing_shows_name_size_and_tables() {
        let listing = DbListing {
            databases: vec![
                DatabaseInfo {
                    size_bytes: Some(16384),
                    tables: Some(1),
                    ..DatabaseInfo::named("shop")
                },
                DatabaseInfo {
                    size_bytes: Some(0),
                    tables: Some(0),
                    ..DatabaseInfo::named("empty_db")
                },
            ],
        };
        assert_eq!(
            render_table(&listing),
            "NAME          SIZE  TABLES\n\
             shop      16.0 KiB       1\n\
             empty_db       0 B       0\n\
             2 databases\n"
        );
    }

    #[test]
    fn empty_listing_says_so() {
        assert_eq!(render_table(&DbListing::default()), "0 databases\n");
    }

    #[test]
    fn sizes_are_humanized() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
