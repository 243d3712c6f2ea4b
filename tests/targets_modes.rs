//! File modes of what the local target writes: sets 0640, the directories
//! it creates 0750, whatever the umask. A test binary of its own, since the
//! umask is process-wide.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use bytes::Bytes;
use dbs_gateway::api::layout::RelPath;
use support::fixtures::local_section;
use support::sinks::{Pipeline, Target, Tuning};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

async fn write_set(target: &dyn Target, rel: &str) {
    let path = RelPath::parse("dir", rel).unwrap();
    let mut w = target.open(&path, Some(4)).await.unwrap();
    w.write(Bytes::from_static(b"data")).await.unwrap();
    w.commit().await.unwrap();
}

#[tokio::test]
async fn sets_are_0640_and_created_directories_0750_whatever_the_umask() {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let target = Pipeline::new(&local_section(root.path()), Tuning::default()).target("local");
    for (umask, dir) in [(0o000, "open"), (0o077, "closed")] {
        // SAFETY: umask only swaps the process's mask; this binary has no
        // other test running at the same time.
        unsafe { libc::umask(umask) };
        write_set(target.as_ref(), &format!("{dir}/plan/full/set.xb")).await;
        let base = root.path().join(dir);
        assert_eq!(
            mode(&base.join("plan/full/set.xb")),
            0o640,
            "umask {umask:o}"
        );
        for d in ["", "plan", "plan/full"] {
            assert_eq!(mode(&base.join(d)), 0o750, "umask {umask:o}: {dir}/{d}");
        }
    }
    assert_eq!(
        mode(root.path()),
        0o755,
        "an existing directory keeps its mode"
    );
}
