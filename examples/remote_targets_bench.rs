//! Streams one HTTP URL into the `ftp` or `minio` target, hashing with
//! SHA-256 on the way as the download pipeline does; used by
//! bench/remote-targets.sh until `dbs-gateway download --to ftp:/minio:`
//! is wired up. The target's settings come from the test-server env vars
//! (DBS_TEST_FTP_* / DBS_TEST_S3_*), the spec from the command line:
//!
//!     remote_targets_bench URL ftp:/ROOT REL/PATH
//!     remote_targets_bench URL minio:BUCKET/PREFIX REL/PATH [PART_MIB] [IN_FLIGHT]

use std::error::Error;
use std::time::Instant;

use dbs_gateway::config::Secret;
use dbs_gateway::transfer::path::RelPath;
use dbs_gateway::transfer::sinks::ftp::{FtpConfig, FtpTarget};
use dbs_gateway::transfer::sinks::minio::{MinioConfig, MinioTarget};
use dbs_gateway::transfer::sinks::Target;
use futures::StreamExt;
use sha2::{Digest, Sha256};

fn env(name: &str) -> Result<String, Box<dyn Error>> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, spec, rel, rest @ ..] = args.as_slice() else {
        return Err("usage: remote_targets_bench URL ftp:ROOT|minio:BUCKET[/PREFIX] REL/PATH [PART_MIB] [IN_FLIGHT]".into());
    };
    let target: Box<dyn Target> = if spec.starts_with("ftp:") {
        let cfg = FtpConfig::new(
            env("DBS_TEST_FTP_HOST")?,
            env("DBS_TEST_FTP_PORT")?.parse()?,
            env("DBS_TEST_FTP_USER")?,
            Secret::new(env("DBS_TEST_FTP_PASSWORD")?),
        );
        Box::new(FtpTarget::from_spec(spec, &cfg)?)
    } else if spec.starts_with("minio:") {
        let mut cfg = MinioConfig::new(
            env("DBS_TEST_S3_ENDPOINT")?,
            env("DBS_TEST_S3_BUCKET")?,
            env("DBS_TEST_S3_ACCESS_KEY")?,
            Secret::new(env("DBS_TEST_S3_SECRET_KEY")?),
        );
        if let Some(mib) = rest.first() {
            cfg.part_size_mib = mib.parse()?;
        }
        if let Some(n) = rest.get(1) {
            cfg.parts_in_flight = n.parse()?;
        }
        Box::new(MinioTarget::from_spec(spec, &cfg)?)
    } else {
        return Err(format!("unknown target spec {spec}").into());
    };
    let path = RelPath::parse("path", rel)?;
    let started = Instant::now();
    let response = reqwest::get(url.as_str()).await?.error_for_status()?;
    let size = response.content_length().ok_or("no Content-Length")?;
    let mut writer = target.open(&path, size).await?;
    let mut hasher = Sha256::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        writer.write(chunk).await?;
    }
    writer.commit().await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} bytes in {secs:.2} s = {:.1} MB/s sha256={}",
        size,
        size as f64 / secs / 1e6,
        hex::encode(hasher.finalize())
    );
    Ok(())
}
