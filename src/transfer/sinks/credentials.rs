//! Secrets and CA certificates of the remote targets (`ftp`, `minio`): a
//! secret given inline or in a file, and a PEM CA bundle for TLS.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::BuildError;
use crate::secret::{self, Secret};

/// The secret given inline or in `file` (see [`secret::resolve_secret`]);
/// `key` names the setting, for example `targets.ftp.password`.
pub fn resolve_secret(
    key: &'static str,
    inline: Option<&Secret>,
    file: Option<&Path>,
) -> Result<Secret, BuildError> {
    secret::resolve_secret(key, inline, file).map_err(BuildError::Secret)
}

/// The root certificates for TLS: the PEM certificates of `file` when given,
/// else the public web roots (webpki-roots).
pub fn load_ca_file(
    key: &'static str,
    file: Option<&Path>,
) -> Result<rustls::RootCertStore, BuildError> {
    let mut roots = rustls::RootCertStore::empty();
    let Some(path) = file else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    let shown = path.display().to_string();
    let err = |reason: String| BuildError::CaFile {
        key,
        path: shown.clone(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in file".to_owned()));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| err(e.to_string()))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_comes_from_exactly_one_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").expect("write");
        let s = resolve_secret("targets.ftp.password", None, Some(&file)).expect("file secret");
        assert_eq!(s.expose(), "s3cret");
        let inline = Secret::new("x");
        let e =
            resolve_secret("targets.ftp.password", Some(&inline), Some(&file)).expect_err("both");
        assert_eq!(e.code(), "Config.Secret");
        assert!(e.to_string().contains("targets.ftp.password"), "{e}");
        assert!(resolve_secret("targets.ftp.password", None, None).is_err());
    }

    #[test]
    fn ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "not a certificate\n").expect("write");
        let e = load_ca_file("targets.minio.tls_ca_file", Some(&file)).expect_err("no certs");
        assert_eq!(e.code(), "Config.CaFile");
    }
}
