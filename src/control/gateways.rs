//! The gateway registry: who heartbeats, from where, and whether it is
//! ONLINE, OFFLINE or STOPPED.
//!
//! Status is derived when read, never stored: STOPPED when the agent's last
//! heartbeat was a goodbye, OFFLINE when no heartbeat came for
//! `offline_after`, ONLINE otherwise.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::api::gateway::HostFacts;
use crate::api::gateway_status;

/// A registered gateway.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// Numeric id (`BackupGatewayId`).
    pub id: i64,
    /// The agent's chosen identifier.
    pub identifier: String,
    /// Display name.
    pub display_name: String,
    /// Region.
    pub region: String,
    /// Host name reported.
    pub hostname: String,
    /// Intranet address reported.
    pub intranet_ip: String,
    /// Internet address reported.
    pub internet_ip: String,
    /// Whether the last heartbeat was a goodbye.
    pub stopped: bool,
    /// Last heartbeat, ms since the epoch.
    pub last_heartbeat_ms: i64,
    /// First registration, ms since the epoch.
    pub created_ms: i64,
}

impl Gateway {
    /// Status as users see it, at `now_ms`.
    pub fn status(&self, now_ms: i64, offline_after_ms: i64) -> &'static str {
        if self.stopped {
            gateway_status::STOPPED
        } else if now_ms - self.last_heartbeat_ms > offline_after_ms {
            gateway_status::OFFLINE
        } else {
            gateway_status::ONLINE
        }
    }

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Gateway {
            id: row.get("id")?,
            identifier: row.get("identifier")?,
            display_name: row.get("display_name")?,
            region: row.get("region")?,
            hostname: row.get("hostname")?,
            intranet_ip: row.get("intranet_ip")?,
            internet_ip: row.get("internet_ip")?,
            stopped: row.get("stopped")?,
            last_heartbeat_ms: row.get("last_heartbeat_ms")?,
            created_ms: row.get("created_ms")?,
        })
    }
}

/// One heartbeat, as the registry records it.
pub struct Heartbeat {
    /// The agent's identifier.
    pub identifier: String,
    /// Display name.
    pub display_name: String,
    /// Region.
    pub region: String,
    /// Host facts.
    pub facts: HostFacts,
    /// True for the goodbye heartbeat.
    pub stopping: bool,
}

/// Registers or refreshes a gateway and returns it.
pub fn record_heartbeat(
    conn: &Connection,
    hb: &Heartbeat,
    now_ms: i64,
) -> rusqlite::Result<Gateway> {
    let facts = serde_json::to_string(&hb.facts).unwrap_or_else(|_| "{}".into());
    conn.query_row(
        "INSERT INTO gateways (identifier, display_name, region, hostname, intranet_ip,
             internet_ip, agent_version, host_facts, stopped, last_heartbeat_ms, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
         ON CONFLICT(identifier) DO UPDATE SET
             display_name = excluded.display_name, region = excluded.region,
             hostname = excluded.hostname, intranet_ip = excluded.intranet_ip,
             internet_ip = excluded.internet_ip, agent_version = excluded.agent_version,
             host_facts = excluded.host_facts, stopped = excluded.stopped,
             last_heartbeat_ms = excluded.last_heartbeat_ms
         RETURNING *",
        rusqlite::params![
            hb.identifier,
            hb.display_name,
            hb.region,
            hb.facts.hostname,
            hb.facts.intranet_ip,
            hb.facts.internet_ip,
            hb.facts.agent_version,
            facts,
            hb.stopping,
            now_ms
        ],
        Gateway::from_row,
    )
}

/// A gateway by id.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Gateway>> {
    conn.query_row(
        "SELECT * FROM gateways WHERE id = ?1",
        [id],
        Gateway::from_row,
    )
    .optional()
}

/// A gateway by identifier.
pub fn by_identifier(conn: &Connection, identifier: &str) -> rusqlite::Result<Option<Gateway>> {
    conn.query_row(
        "SELECT * FROM gateways WHERE identifier = ?1",
        [identifier],
        Gateway::from_row,
    )
    .optional()
}

/// One page of the gateways of a region (optionally only those with the
/// given identifiers), ordered by id, and how many there are in all.
pub fn list(
    conn: &Connection,
    region: &str,
    identifiers: &[String],
    page_num: usize,
    page_size: usize,
) -> rusqlite::Result<(Vec<Gateway>, usize)> {
    const WHERE: &str = "WHERE region = ?1
        AND (?2 = '[]' OR identifier IN (SELECT value FROM json_each(?2)))";
    let wanted = serde_json::to_string(identifiers).expect("strings serialize");
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM gateways {WHERE}"),
        (region, &wanted),
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT * FROM gateways {WHERE} ORDER BY id LIMIT ?3 OFFSET ?4"
    ))?;
    let offset = page_num.saturating_mul(page_size).min(i64::MAX as usize) as i64;
    let page = stmt
        .query_map(
            rusqlite::params![region, wanted, page_size as i64, offset],
            Gateway::from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((page, total as usize))
}

/// Registers gateway `identifier` by a heartbeat at time 0 (for tests):
/// its id.
#[cfg(test)]
pub(crate) fn register_for_test(conn: &Connection, identifier: &str) -> rusqlite::Result<i64> {
    let hb = Heartbeat {
        identifier: identifier.into(),
        display_name: identifier.into(),
        region: "cn-hangzhou".into(),
        facts: crate::api::gateway::HostFacts::default(),
        stopping: false,
    };
    Ok(record_heartbeat(conn, &hb, 0)?.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(stopped: bool, last: i64) -> Gateway {
        Gateway {
            id: 1,
            identifier: "g".into(),
            display_name: "g".into(),
            region: "r".into(),
            hostname: String::new(),
            intranet_ip: String::new(),
            internet_ip: String::new(),
            stopped,
            last_heartbeat_ms: last,
            created_ms: 0,
        }
    }

    #[test]
    fn listings_are_paged_and_filtered_in_sql() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::control::store::open(dir.path()).unwrap();
        store
            .call_now(|c| {
                for i in 0..5 {
                    let hb = Heartbeat {
                        identifier: format!("g{i}"),
                        display_name: format!("g{i}"),
                        region: "r".into(),
                        facts: HostFacts::default(),
                        stopping: false,
                    };
                    record_heartbeat(c, &hb, 0)?;
                }
                let (page, total) = list(c, "r", &[], 1, 2)?;
                assert_eq!(total, 5);
                let names: Vec<_> = page.iter().map(|g| g.identifier.as_str()).collect();
                assert_eq!(names, ["g2", "g3"]);
                let wanted = ["g4".to_string(), "g0".to_string()];
                let (page, total) = list(c, "r", &wanted, 0, 30)?;
                assert_eq!(total, 2);
                assert_eq!(page[0].identifier, "g0");
                assert_eq!(list(c, "other", &[], 0, 30)?.1, 0);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn status_is_derived_from_the_last_heartbeat() {
        assert_eq!(gateway(false, 1000).status(2000, 5000), "ONLINE");
        assert_eq!(gateway(false, 1000).status(7000, 5000), "OFFLINE");
        assert_eq!(gateway(true, 1000).status(2000, 5000), "STOPPED");
    }
}
