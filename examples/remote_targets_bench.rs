//! Downloads one HTTP URL into the `ftp` or `minio` target through the
//! agent's download pipeline (`transfer::pipeline`: Range source, SHA-256,
//! retries, commit); used by bench/remote-targets.sh until
//! `dbs-gateway download --to ftp:/minio:` is wired up. The target's
//! settings come from the test-server env vars (DBS_TEST_FTP_* /
//! DBS_TEST_S3_*), the spec from the command line:
//!
//!     remote_targets_bench URL ftp:/ROOT REL/PATH
//!     remote_targets_bench URL minio:BUCKET/PREFIX REL/PATH [PART_MIB] [IN_FLIGHT]

use std::error::Error;
use std::time::Duration;

use dbs_gateway::config::Secret;
use dbs_gateway::transfer::downloader::http_client;
use dbs_gateway::transfer::path::RelPath;
use dbs_gateway::transfer::pipeline::{self, Job, Options, RetryPolicy};
use dbs_gateway::transfer::sinks::ftp::{FtpConfig, FtpTarget};
use dbs_gateway::transfer::sinks::minio::{MinioConfig, MinioTarget};
use dbs_gateway::transfer::sinks::Target;
use dbs_gateway::transfer::source::HttpSource;
use dbs_gateway::transfer::TransferConfig;
use tokio_util::sync::CancellationToken;

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
    let config = TransferConfig::default();
    let options = Options {
        retry: RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        },
        progress_interval: Duration::from_secs(5),
        throttle: None,
    };
    let job = Job {
        source: HttpSource::new(http_client(&config)?, reqwest::Url::parse(url)?),
        target: target.as_ref(),
        path,
        size: None,
        checksum: None,
    };
    let outcome =
        pipeline::download(job, &options, Box::new(|_| {}), &CancellationToken::new()).await?;
    let secs = outcome.elapsed.as_secs_f64();
    println!(
        "{} bytes in {secs:.2} s = {:.1} MB/s {} at {}",
        outcome.size,
        outcome.size as f64 / secs / 1e6,
        outcome.checksum,
        outcome.location
    );
    Ok(())
}
