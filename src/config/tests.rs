//! Loading gateway.toml: good files, every kind of problem, secrets.

use std::io::Write;

use super::*;

fn write(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

const GOOD: &str = r#"
[gateway]
identifier = "db-1"
state_dir = "/tmp/dbs"

[control]
endpoint = "http://127.0.0.1:8080"
access_key_id = "AK"
access_key_secret = "s3cret"
"#;

#[test]
fn a_good_file_loads() {
    let file = write(GOOD);
    let config = GatewayConfig::load(file.path()).unwrap();
    assert_eq!(config.gateway.identifier.as_deref(), Some("db-1"));
    assert_eq!(config.access_key_secret.expose(), "s3cret");
    assert_eq!(config.gateway.region, "cn-hangzhou");
}

#[test]
fn a_typo_names_the_key_and_the_file() {
    let file = write(&GOOD.replace("endpoint =", "endpont ="));
    let err = GatewayConfig::load(file.path()).unwrap_err().to_string();
    assert!(err.contains(&file.path().display().to_string()), "{err}");
    assert!(err.contains("endpont"), "{err}");
}

#[test]
fn a_bad_value_names_the_key() {
    let file = write(&GOOD.replace("\"http://127.0.0.1:8080\"", "\"127.0.0.1 8080\""));
    let err = GatewayConfig::load(file.path()).unwrap_err().to_string();
    assert!(err.contains("control.endpoint: not a URL"), "{err}");
}

#[test]
fn every_problem_is_reported() {
    let text = GOOD
        .replace("\"http://127.0.0.1:8080\"", "\"ftp://x\"")
        .replace("access_key_id = \"AK\"", "access_key_id = \"\"")
        .replace("/tmp/dbs", "relative");
    let err = GatewayConfig::load(write(&text).path()).unwrap_err();
    assert_eq!(err.problems.len(), 3, "{err}");
}

#[test]
fn secret_from_file_and_not_both() {
    let secret = write("from-file\n");
    let text = GOOD.replace(
        "access_key_secret = \"s3cret\"",
        &format!("access_key_secret_file = \"{}\"", secret.path().display()),
    );
    let config = GatewayConfig::load(write(&text).path()).unwrap();
    assert_eq!(config.access_key_secret.expose(), "from-file");

    let both = format!(
        "{GOOD}access_key_secret_file = \"{}\"\n",
        secret.path().display()
    );
    let err = GatewayConfig::load(write(&both).path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not both"), "{err}");
}

#[test]
fn secrets_do_not_print() {
    let config = GatewayConfig::load(write(GOOD).path()).unwrap();
    assert!(!format!("{config:?}").contains("s3cret"));
}
#[test]
fn an_unknown_key_is_named_with_its_section() {
    let err = GatewayConfig::load(write(&GOOD.replace("endpoint =", "endpont =")).path())
        .unwrap_err()
        .to_string();
    assert!(err.contains(": control.endpont: unknown key"), "{err}");
}

#[test]
fn a_wrong_type_is_named_once() {
    let text = GOOD.replace("[control]", "[control]\nrequest_timeout_secs = \"abc\"");
    let file = write(&text);
    let err = GatewayConfig::load(file.path()).unwrap_err().to_string();
    assert!(err.contains("control.request_timeout_secs"), "{err}");
    assert_eq!(err.matches(".toml").count(), 1, "{err}");
}

#[test]
fn database_entries_are_read_and_checked() {
    let text = format!("{GOOD}\n[[databases]]\ntype = \"mysql\"\nhost = \"127.0.0.1\"\nuser = \"backup\"\npassword = \"pw\"\n");
    let config = GatewayConfig::load(write(&text).path()).unwrap();
    assert_eq!(config.databases.len(), 1);

    let text = format!("{GOOD}\n[[databases]]\ntype = \"mysql\"\nhost = \"127.0.0.1\"\n");
    let err = GatewayConfig::load(write(&text).path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("databases[0].user"), "{err}");
}

#[test]
fn every_unknown_key_and_bad_value_is_reported_in_one_run() {
    let text = format!(
        "{}\n[transfer]\nmax_concurent = 3\n",
        GOOD.replace("endpoint = \"http://127.0.0.1:8080\"", "endpont = \"x\"")
            .replace("state_dir = \"/tmp/dbs\"", "state_dir = \"relative\"")
            .replace(
                "[control]",
                "[control]\nendpoint = \"http://127.0.0.1:8080\""
            )
    );
    let file = write(&text);
    let err = GatewayConfig::load(file.path()).unwrap_err();
    let name = file.path().display().to_string();
    assert_eq!(err.problems.len(), 3, "{err}");
    for line in &err.problems {
        assert!(line.starts_with(&format!("{name}: ")), "{err}");
    }
    let text = err.to_string();
    assert!(
        text.contains(": control.endpont: unknown key (expected one of `endpoint`"),
        "{err}"
    );
    assert!(
        text.contains(": transfer.max_concurent: unknown key (expected one of `max_concurrent`"),
        "{err}"
    );
    assert!(
        text.contains(": gateway.state_dir: must be an absolute path"),
        "{err}"
    );
}

#[test]
fn unknown_keys_at_every_depth_and_wrong_types_are_all_reported() {
    let text = format!(
        "colour = 1\n{GOOD}\n[log]\nformat = \"xml\"\n[[databases]]\ntype = \"mysql\"\nhots = \"h\"\nhost = \"127.0.0.1\"\n[transfer]\nmax_retries = \"many\"\n"
    );
    let err = GatewayConfig::load(write(&text).path()).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.problems.len(), 5, "{err}");
    assert!(
        text.contains(": colour: unknown key (expected one of `gateway`"),
        "{err}"
    );
    assert!(text.contains(": databases[0].hots: unknown key"), "{err}");
    assert!(
        text.contains(": log.format: enum LogFormat does not have variant constructor xml"),
        "{err}"
    );
    assert!(
        text.contains(": transfer.max_retries: invalid type"),
        "{err}"
    );
    // With the refused keys left out, the values are checked too.
    assert!(text.contains(": databases[0].user: required"), "{err}");
}

#[test]
fn a_missing_key_is_named() {
    let text = GOOD.replace("access_key_id = \"AK\"", "");
    let err = GatewayConfig::load(write(&text).path())
        .unwrap_err()
        .to_string();
    assert!(err.contains(": control.access_key_id: missing"), "{err}");
}
