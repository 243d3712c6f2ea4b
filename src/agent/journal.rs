//! The agent's memory of finished tasks, in its state dir: a task offered
//! again (its report was lost, or its lease lapsed while the agent was down
//! after finishing) is answered from here instead of being run twice.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Folder inside the state dir.
const DIR: &str = "finished";

/// Finished tasks' results, one small JSON file each.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The journal of a state dir (created on first write).
    pub fn new(state_dir: &Path) -> Self {
        Journal {
            dir: state_dir.join(DIR),
        }
    }

    fn path(&self, task_id: u64) -> PathBuf {
        self.dir.join(format!("{task_id}.json"))
    }

    /// The result recorded for a task, if it finished here before.
    pub fn finished(&self, task_id: u64) -> Option<Value> {
        let bytes = std::fs::read(self.path(task_id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Records a task's result (atomically: temp file, then rename).
    pub fn record(&self, task_id: u64, result: &Value) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{task_id}.json.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(result)?)?;
        std::fs::rename(&tmp, self.path(task_id))
    }

    /// Forgets a task once the control plane has its result.
    pub fn forget(&self, task_id: u64) {
        let _ = std::fs::remove_file(self.path(task_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        assert!(journal.finished(7).is_none());
        journal.record(7, &serde_json::json!({"Size": 3})).unwrap();
        assert_eq!(journal.finished(7).unwrap()["Size"], 3);
        journal.forget(7);
        assert!(journal.finished(7).is_none());
    }
}
