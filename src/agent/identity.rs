//! The agent's stable identity, kept in its state dir so that a restart (or
//! a reinstall that keeps /var/lib/dbs-gateway) registers as the same gateway.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// File name inside the state dir.
pub const IDENTITY_FILE: &str = "identity.json";

/// What the agent remembers of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Identity {
    /// The identifier the gateway registers under.
    pub identifier: String,
}

/// The identity: the configured identifier if any, else the one kept in the
/// state dir, else a new one made from the host name (and kept).
pub fn load_or_create(state_dir: &Path, configured: Option<&str>) -> io::Result<Identity> {
    if let Some(id) = configured {
        return Ok(Identity {
            identifier: id.to_string(),
        });
    }
    let path = state_dir.join(IDENTITY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let host = sysinfo::System::host_name().unwrap_or_else(|| "gateway".into());
            let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
            // Host names may be longer than identifiers: keep the start.
            let room = crate::api::bounds::MAX_IDENTIFIER_CHARS - suffix.len() - 1;
            let host: String = host.chars().filter(|c| *c != ',').take(room).collect();
            let identity = Identity {
                identifier: format!("{host}-{suffix}"),
            };
            std::fs::create_dir_all(state_dir)?;
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&identity)?)?;
            std::fs::rename(&tmp, &path)?;
            Ok(identity)
        }
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_identity_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), None).unwrap();
        let second = load_or_create(dir.path(), None).unwrap();
        assert_eq!(first, second);
        assert_eq!(
            load_or_create(dir.path(), Some("fixed"))
                .unwrap()
                .identifier,
            "fixed"
        );
    }
}
