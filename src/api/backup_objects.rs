//! `BackupObjects`: what a logical backup takes, as the API documents spell
//! it: a JSON array of databases, each with optional table lists,
//! `[{"DBName":"shop","TableIncludes":[{"TableName":"orders"}]}]`. An empty
//! array (or none) means every user database.

use serde::{Deserialize, Serialize};

/// Longest `BackupObjects` value accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Most databases one value names.
pub const MAX_DATABASES: usize = 1024;
/// Longest database or table name, in characters (MySQL's identifier limit).
pub const MAX_NAME_CHARS: usize = 64;

/// One database of a backup, with the tables it takes or leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupObject {
    /// The database.
    #[serde(rename = "DBName")]
    pub db_name: String,
    /// Only these tables, when not empty.
    #[serde(rename = "TableIncludes", default)]
    pub table_includes: Vec<TableName>,
    /// Every table but these.
    #[serde(rename = "TableExcludes", default)]
    pub table_excludes: Vec<TableName>,
}

/// A table named in a [`BackupObject`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableName {
    /// The table.
    #[serde(rename = "TableName")]
    pub table_name: String,
}

impl BackupObject {
    /// Whether the backup takes `table` of this database.
    pub fn takes(&self, table: &str) -> bool {
        let named = |list: &[TableName]| list.iter().any(|t| t.table_name == table);
        (self.table_includes.is_empty() || named(&self.table_includes))
            && !named(&self.table_excludes)
    }
}

/// Why a `BackupObjects` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectsError {
    /// Not the documented JSON shape.
    #[error("BackupObjects: not a JSON array of {{\"DBName\": …}} objects: {0}")]
    Shape(String),
    /// Too long, too many databases, or a name too long.
    #[error("BackupObjects: {0}")]
    TooLarge(String),
    /// An empty name, or one with a control character.
    #[error("BackupObjects: bad name {0:?}")]
    BadName(String),
}

impl ObjectsError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        "InvalidParameter.BackupObjects"
    }
}

/// Parses and bounds a `BackupObjects` value; empty text is every database.
pub fn parse(json: &str) -> Result<Vec<BackupObject>, ObjectsError> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    if json.len() > MAX_JSON_BYTES {
        return Err(ObjectsError::TooLarge(format!(
            "{} bytes, more than {MAX_JSON_BYTES}",
            json.len()
        )));
    }
    let objects: Vec<BackupObject> =
        serde_json::from_str(json).map_err(|e| ObjectsError::Shape(e.to_string()))?;
    if objects.len() > MAX_DATABASES {
        return Err(ObjectsError::TooLarge(format!(
            "{} databases, more than {MAX_DATABASES}",
            objects.len()
        )));
    }
    for object in &objects {
        check_name(&object.db_name)?;
        for table in object.table_includes.iter().chain(&object.table_excludes) {
            check_name(&table.table_name)?;
        }
    }
    Ok(objects)
}

fn check_name(name: &str) -> Result<(), ObjectsError> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ObjectsError::TooLarge(format!(
            "name of {} characters, more than {MAX_NAME_CHARS}",
            name.chars().count()
        )));
    }
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(ObjectsError::BadName(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_shape_parses() {
        let objects = parse(
            r#"[{"DBName":"shop","TableIncludes":[{"TableName":"orders"}]},{"DBName":"crm"}]"#,
        )
        .unwrap();
        assert_eq!(objects.len(), 2);
        assert!(objects[0].takes("orders"));
        assert!(!objects[0].takes("customers"));
        assert!(objects[1].takes("anything"));
        assert!(parse("").unwrap().is_empty());
        assert!(parse("[]").unwrap().is_empty());
    }

    #[test]
    fn excludes_leave_tables_out() {
        let objects =
            parse(r#"[{"DBName":"shop","TableExcludes":[{"TableName":"log"}]}]"#).unwrap();
        assert!(objects[0].takes("orders"));
        assert!(!objects[0].takes("log"));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(matches!(parse("{}"), Err(ObjectsError::Shape(_))));
        assert!(matches!(
            parse(r#"[{"Db":"x"}]"#),
            Err(ObjectsError::Shape(_))
        ));
        assert!(matches!(
            parse(r#"[{"DBName":""}]"#),
            Err(ObjectsError::BadName(_))
        ));
        assert!(matches!(
            parse(r#"[{"DBName":"a\nb"}]"#),
            Err(ObjectsError::BadName(_))
        ));
        let long = format!(r#"[{{"DBName":"{}"}}]"#, "d".repeat(65));
        assert!(matches!(parse(&long), Err(ObjectsError::TooLarge(_))));
        let many = format!("[{}]", vec![r#"{"DBName":"d"}"#; 1025].join(","));
        assert!(matches!(parse(&many), Err(ObjectsError::TooLarge(_))));
        assert_eq!(
            parse("x").unwrap_err().code(),
            "InvalidParameter.BackupObjects"
        );
    }
}
