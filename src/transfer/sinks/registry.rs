//! What the sink registry in `sinks/mod.rs` is made of: [`SinkConfig`] (a
//! `[targets.NAME]` section that builds its target), [`BuildError`], the
//! built [`Targets`], and the `sinks!` macro that declares
//! `TargetsConfig` from one line per sink.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::Target;

/// A `[targets.NAME]` section of gateway.toml.
pub trait SinkConfig {
    /// The target the section describes.
    type Target: Target + 'static;

    /// Makes the target: checks the values, reads secret files and CA
    /// bundles (no network). The one place a target of this kind is made.
    fn build(&self) -> Result<Self::Target, BuildError>;
}

/// A section whose target cannot be made; an operator must fix the file.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A value that is wrong on its own, such as a relative root.
    #[error("gateway.toml: {key}: {reason}")]
    Value {
        key: &'static str,
        reason: &'static str,
    },
    /// The secret is missing, given twice, empty, or its file unreadable.
    #[error("gateway.toml: {0}")]
    Secret(String),
    /// The CA file could not be read or holds no certificate.
    #[error("gateway.toml: {key}: {path}: {reason}")]
    CaFile {
        key: &'static str,
        path: String,
        reason: String,
    },
    /// A value is not usable (for example an endpoint that is not a URL).
    #[error("gateway.toml: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl BuildError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            BuildError::Secret(_) => "Config.Secret",
            BuildError::Value { .. } | BuildError::Invalid { .. } => "Config.Invalid",
            BuildError::CaFile { .. } => "Config.CaFile",
        }
    }

    /// The problem as a config check lists it, for the section `targets.NAME`.
    pub fn problem(&self, name: &str) -> String {
        match self {
            BuildError::Value { key, reason } => format!("{key}: {reason}"),
            other => {
                let text = other.to_string();
                format!(
                    "targets.{name}: {}",
                    text.trim_start_matches("gateway.toml: ")
                )
            }
        }
    }
}

/// The built targets, by location name: what `[targets.*]` configured.
#[derive(Clone, Default)]
pub struct Targets {
    by_location: BTreeMap<String, Arc<dyn Target>>,
}

impl Targets {
    /// Adds (or replaces) the target of `location`.
    pub fn insert(&mut self, location: &str, target: Arc<dyn Target>) {
        self.by_location.insert(location.to_owned(), target);
    }

    /// The target of `location`, if configured.
    pub fn get(&self, location: &str) -> Option<&Arc<dyn Target>> {
        self.by_location.get(location)
    }

    /// The configured location names, sorted.
    pub fn locations(&self) -> Vec<&str> {
        self.by_location.keys().map(String::as_str).collect()
    }

    /// Each location with its target, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<dyn Target>)> {
        self.by_location.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl fmt::Debug for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Targets").field(&self.locations()).finish()
    }
}

/// Declares `TargetsConfig` (one optional `[targets.NAME]` section per
/// sink) and `TargetsConfig::build` from lines `NAME: CONFIG_TYPE,`, where
/// NAME is the location name and CONFIG_TYPE implements [`SinkConfig`].
macro_rules! sinks {
    ($($(#[$doc:meta])* $name:ident: $config:ty,)+) => {
        /// `[targets]`: the locations a download may land in. A task naming
        /// a location that is not configured here is refused.
        #[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct TargetsConfig {
            $($(#[$doc])* pub $name: Option<$config>,)+
        }

        /// Every location name of the registry, in its order.
        pub const LOCATION_NAMES: &[&str] = &[$(stringify!($name)),+];

        impl TargetsConfig {
            /// Builds every configured target, or names every problem of
            /// every section, as `targets.NAME.KEY: what`.
            pub fn build(&self) -> Result<$crate::transfer::sinks::Targets, Vec<String>> {
                use $crate::transfer::sinks::SinkConfig;
                let mut targets = $crate::transfer::sinks::Targets::default();
                let mut problems = Vec::new();
                $(
                    if let Some(section) = &self.$name {
                        match section.build() {
                            Ok(target) => {
                                targets.insert(stringify!($name), std::sync::Arc::new(target))
                            }
                            Err(e) => problems.push(e.problem(stringify!($name))),
                        }
                    }
                )+
                if problems.is_empty() {
                    Ok(targets)
                } else {
                    Err(problems)
                }
            }
        }
    };
}
pub(super) use sinks;

#[cfg(test)]
mod tests {
    use super::super::ftp::FtpConfig;
    use super::super::local::LocalTargetConfig;
    use super::super::nas::NasTargetConfig;
    use super::super::TargetsConfig;
    use super::super::LOCATION_NAMES;
    use crate::api::gateway::TARGET_LOCATIONS;
    use crate::secret::Secret;

    #[test]
    fn every_section_is_built_under_its_location_name() {
        let config = TargetsConfig {
            local: Some(LocalTargetConfig {
                root: "/srv/backups".into(),
            }),
            nas: Some(NasTargetConfig {
                root: "/mnt/nas".into(),
            }),
            ftp: Some(FtpConfig::new("127.0.0.1", 21, "u", Secret::new("p"))),
            minio: None,
        };
        let targets = config.build().expect("targets");
        assert_eq!(targets.locations(), ["ftp", "local", "nas"]);
        for (location, target) in targets.iter() {
            assert_eq!(target.kind(), location);
        }
        assert!(targets.get("minio").is_none());
    }

    #[test]
    fn every_problem_of_every_section_is_named() {
        let mut ftp = FtpConfig::new("127.0.0.1", 21, "u", Secret::new("p"));
        ftp.password = None;
        let config = TargetsConfig {
            local: Some(LocalTargetConfig { root: "b".into() }),
            nas: Some(NasTargetConfig { root: "mnt".into() }),
            ftp: Some(ftp),
            minio: None,
        };
        assert_eq!(
            config.build().expect_err("problems"),
            [
                "targets.local.root: must be an absolute path",
                "targets.nas.root: must be an absolute path",
                "targets.ftp: targets.ftp.password: missing (or set targets.ftp.password_file)",
            ]
        );
    }

    #[test]
    fn the_registry_has_exactly_the_locations_the_api_names() {
        assert_eq!(LOCATION_NAMES, TARGET_LOCATIONS);
    }
}
