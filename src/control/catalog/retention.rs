//! Retention: a full set of a plan with a `BackupRetentionPeriod` expires
//! that many days after it ended; expired sets are deleted with everything
//! that refers to them (download records, the run that made the set), then
//! their files. Plans without a period keep their sets.

use std::path::{Component, Path};

use rusqlite::Connection;

use super::sets;

/// Milliseconds in a retention day.
pub const DAY_MS: i64 = 86_400_000;

/// When a set that ended at `end_ms` expires under `retention_days`.
pub fn expires_at(end_ms: i64, retention_days: Option<i64>) -> Option<i64> {
    retention_days.map(|days| end_ms.saturating_add(days.saturating_mul(DAY_MS)))
}

/// Deletes the records of every full set expired at `now_ms`, in one
/// transaction, then their files under the data dir. Returns the ids.
pub fn expire(conn: &mut Connection, now_ms: i64) -> rusqlite::Result<Vec<String>> {
    let tx = conn.transaction()?;
    let expired: Vec<(String, String)> = tx
        .prepare(
            "SELECT s.id, s.file FROM backup_sets s JOIN backup_plans p ON p.id = s.plan_id
             WHERE s.kind = 'full' AND p.retention_days IS NOT NULL
               AND s.end_ms + p.retention_days * ?2 <= ?1",
        )?
        .query_map([now_ms, DAY_MS], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, _) in &expired {
        tx.execute("DELETE FROM set_downloads WHERE set_id = ?1", [id])?;
        tx.execute("DELETE FROM backup_runs WHERE set_id = ?1", [id])?;
        tx.execute("DELETE FROM backup_sets WHERE id = ?1", [id])?;
    }
    tx.commit()?;
    if let Some(data_dir) = sets::data_dir_of(conn) {
        for (id, file) in &expired {
            remove_file(&data_dir, id, file);
        }
    }
    Ok(expired.into_iter().map(|(id, _)| id).collect())
}

/// Removes a set's file if its recorded path lies beneath the data dir.
fn remove_file(data_dir: &Path, id: &str, file: &str) {
    let relative = Path::new(file);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        tracing::warn!(set = %id, %file, "an expired set's file lies outside the data dir; left in place");
        return;
    }
    match std::fs::remove_file(data_dir.join(relative)) {
        Ok(()) => tracing::info!(set = %id, "expired set deleted"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(set = %id, %file, error = %e, "deleting an expired set's file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::gateway::SetKind;
    use crate::control::catalog::plans;
    use crate::control::store;

    #[test]
    fn sets_past_their_plans_retention_are_deleted_with_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = store::open(&data).unwrap();
        let source = dir.path().join("full.xb");
        std::fs::write(&source, b"bytes").unwrap();
        let add = |plan: &'static str| {
            let source = source.clone();
            store
                .call_now(move |c| {
                    let new = sets::NewSet {
                        plan_id: plan,
                        kind: SetKind::Full,
                        name: None,
                        db_type: None,
                        source: &source,
                    };
                    let data_dir = sets::data_dir_of(c).unwrap();
                    Ok(sets::add(c, &data_dir, &new, None, || 1_000).unwrap().set)
                })
                .unwrap()
        };
        let kept_forever = add("forever");
        let expiring = add("weekly");
        store
            .call_now(|c| {
                let mut plan = plans::get(c, "weekly")?.unwrap();
                plan.retention_days = Some(7);
                plans::save(c, &plan)?;
                // Not yet: one millisecond before the seventh day ends.
                assert!(expire(c, 1_000 + 7 * DAY_MS - 1)?.is_empty());
                assert_eq!(expire(c, 1_000 + 7 * DAY_MS)?, vec![expiring.id.clone()]);
                assert!(sets::get(c, &expiring.id)?.is_none());
                assert!(sets::get(c, &kept_forever.id)?.is_some());
                Ok(())
            })
            .unwrap();
        assert!(!data.join(&expiring.file).exists());
        assert!(data.join(&kept_forever.file).exists());
        assert_eq!(expires_at(5, Some(1)), Some(5 + DAY_MS));
        assert_eq!(expires_at(5, None), None);
    }
}
