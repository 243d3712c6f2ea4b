//! The scheduler of dbs-control serve: every [`TICK`] it fires the full
//! backup of each running plan whose next run has come (a leased gateway
//! task, see [`catalog::runs`]) and deletes the sets past their plan's
//! retention ([`catalog::retention`]).
//!
//! A plan stores its next run. Firing a plan computes the next one from
//! now, never from the window that fired: a control plane down across
//! several windows runs the missed backup once when it comes back. A plan
//! whose gateway is offline still gets its task; the gateway takes it when
//! it comes back (its lease starts then). A window that comes while the
//! plan's last backup is still queued or running is skipped.

use std::time::Duration;

use rusqlite::Connection;

use crate::api::gateway::{BackupMethod, BackupSpec, SourceEndpoint};
use crate::control::catalog::{plans, retention, runs, sets};
use crate::control::schedule::Weekly;
use crate::control::{store, ControlPlane};

/// How often the loop looks for due plans and expired sets.
pub const TICK: Duration = Duration::from_secs(5);

/// `BackupStrategyType` of a weekly schedule.
pub const STRATEGY_SIMPLE: &str = "simple";
/// `BackupStrategyType` of a plan that runs only when started.
pub const STRATEGY_MANUAL: &str = "manual";

/// Runs until the plane shuts down.
pub async fn run(plane: ControlPlane) {
    loop {
        tokio::select! {
            _ = plane.shutdown.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        let now = store::now_ms();
        match plane.store.call(move |c| fire_due(c, now)).await {
            Ok(fired) => {
                for run in fired {
                    tracing::info!(plan = %run.plan_id, set = %run.set_id, gateway = run.gateway_id, "scheduled backup queued");
                    plane.notifier.wake(run.gateway_id);
                }
            }
            Err(error) => tracing::error!(%error, "store failure while firing scheduled backups"),
        }
        if let Err(error) = plane.store.call(move |c| retention::expire(c, now)).await {
            tracing::error!(%error, "store failure while deleting expired sets");
        }
    }
}

/// A backup just queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The plan.
    pub plan_id: String,
    /// The `BackupSetId` the set will have.
    pub set_id: String,
    /// The gateway that takes it.
    pub gateway_id: i64,
}

/// Fires every plan due at `now_ms`, once each, in one transaction, and
/// sets its next run after `now_ms`.
pub fn fire_due(conn: &mut Connection, now_ms: i64) -> rusqlite::Result<Vec<Started>> {
    let tx = conn.transaction()?;
    let mut fired = Vec::new();
    for mut plan in plans::due(&tx, now_ms)? {
        if under_way(&tx, &plan.id)? {
            // Two backups of one database at once would slow each other and
            // the server: this window is skipped, the next one is kept.
            tracing::warn!(plan = %plan.id, "scheduled backup skipped: the plan's last backup still runs");
        } else if let Some(started) = start(&tx, &plan, runs::Trigger::Schedule, now_ms)? {
            fired.push(started);
        }
        plan.next_run_ms = plan.backup.as_ref().and_then(|b| next_run(b, now_ms));
        plans::save(&tx, &plan)?;
    }
    tx.commit()?;
    Ok(fired)
}

/// Whether a backup of `plan_id` is queued or running (its set not
/// uploaded whole yet).
fn under_way(conn: &Connection, plan_id: &str) -> rusqlite::Result<bool> {
    let filter = runs::PendingFilter {
        states: vec!["queued", "running"],
        ..Default::default()
    };
    Ok(runs::without_set(conn, plan_id, &filter, 0, 0)?.1 > 0)
}

/// Queues a full backup of `plan` now, with a fresh set id; `None` for a
/// plan without a source.
pub fn start(
    conn: &Connection,
    plan: &plans::Plan,
    trigger: runs::Trigger,
    now_ms: i64,
) -> rusqlite::Result<Option<Started>> {
    let Some(spec) = backup_spec(plan, sets::new_set_id()) else {
        return Ok(None);
    };
    let gateway_id = plan.backup.as_ref().map_or(0, |b| b.gateway_id);
    runs::start(conn, &spec, gateway_id, trigger, now_ms)?;
    Ok(Some(Started {
        plan_id: plan.id.clone(),
        set_id: spec.backup_set_id,
        gateway_id,
    }))
}

/// The task that backs `plan` up into the set `set_id`; `None` for a plan
/// without a source or method.
pub fn backup_spec(plan: &plans::Plan, set_id: String) -> Option<BackupSpec> {
    let backup = plan.backup.as_ref()?;
    let method: BackupMethod = plan.method.as_deref()?.parse().ok()?;
    Some(BackupSpec {
        backup_plan_id: plan.id.clone(),
        backup_set_id: set_id,
        source: source_endpoint(plan, backup),
        backup_method: method,
        backup_objects: backup.objects.clone(),
        speed_limit_kib: read_limit_kib(backup),
    })
}

/// The most KiB per second a backup reads: the smaller of the plan's
/// `BackupSpeedLimit` (the network's) and `BackupRateLimit` (the disk's),
/// 0 being no limit. One limit serves both: the agent reads the backup's
/// stream no faster, and a stream read slowly makes the tool (or the
/// server) read the database as slowly.
fn read_limit_kib(backup: &plans::Backup) -> Option<u64> {
    [backup.speed_limit_kib, backup.rate_limit_kib]
        .into_iter()
        .flatten()
        .filter(|&kib| kib > 0)
        .min()
}

/// The database a plan's tasks run against.
pub fn source_endpoint(plan: &plans::Plan, backup: &plans::Backup) -> SourceEndpoint {
    SourceEndpoint {
        database_type: plan.db_type.clone(),
        source_endpoint_ip: backup.ip.clone(),
        source_endpoint_port: backup.port,
    }
}

/// The first window of a plan's weekly schedule after `now_ms`; `None` for
/// a manual strategy.
pub fn next_run(backup: &plans::Backup, now_ms: i64) -> Option<i64> {
    if backup.strategy_type != STRATEGY_SIMPLE {
        return None;
    }
    let weekly = Weekly::parse(backup.period.as_deref()?, backup.start_time.as_deref()?).ok()?;
    Some(weekly.next_after(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::gateways::register_for_test;

    /// 2026-11-27T02:30:00Z, a Friday.
    const FRIDAY_0230: i64 = 1_795_746_600_000;
    const WEEK_MS: i64 = 7 * retention::DAY_MS;

    fn plan_with_schedule(c: &Connection, gateway_id: i64) -> rusqlite::Result<plans::Plan> {
        let mut plan = plans::create(c, "p1", "MySQL", "logical", "{}", 0)?;
        plan.status = plans::status::RUNNING.into();
        plan.backup = Some(plans::Backup {
            instance_type: "agent".into(),
            gateway_id,
            ip: "127.0.0.1".into(),
            port: 3306,
            user: None,
            objects: None,
            strategy_type: STRATEGY_SIMPLE.into(),
            period: Some("Friday".into()),
            start_time: Some("02:30Z".into()),
            speed_limit_kib: Some(1024),
            rate_limit_kib: None,
        });
        plan.next_run_ms = Some(FRIDAY_0230);
        plans::save(c, &plan)?;
        Ok(plan)
    }

    /// Runs `test` on a fresh store holding gateway `g1` and its scheduled
    /// plan `p1` ([`plan_with_schedule`]).
    fn with_scheduled_plan(
        test: impl FnOnce(&mut Connection, i64, plans::Plan) -> rusqlite::Result<()>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        store
            .call_now(|c| {
                let gateway_id = register_for_test(c, "g1")?;
                let plan = plan_with_schedule(c, gateway_id)?;
                test(c, gateway_id, plan)
            })
            .unwrap();
    }

    fn runs_of(c: &Connection) -> rusqlite::Result<i64> {
        c.query_row("SELECT COUNT(*) FROM backup_runs", [], |r| r.get(0))
    }

    #[test]
    fn missed_windows_run_once_and_the_next_run_is_after_now() {
        with_scheduled_plan(|c, gateway_id, _| {
            // Not due a millisecond before its window.
            assert!(fire_due(c, FRIDAY_0230 - 1)?.is_empty());
            // Down for three windows: one backup, then the window after now.
            let later = FRIDAY_0230 + 3 * WEEK_MS + 60_000;
            let fired = fire_due(c, later)?;
            assert_eq!(fired.len(), 1);
            assert_eq!(fired[0].gateway_id, gateway_id);
            assert_eq!(runs_of(c)?, 1);
            let plan = plans::get(c, "p1")?.unwrap();
            assert_eq!(plan.next_run_ms, Some(FRIDAY_0230 + 4 * WEEK_MS));
            assert!(fire_due(c, later + 1)?.is_empty());
            let run = runs::get(c, &fired[0].set_id)?.unwrap();
            assert_eq!(run.trigger, "schedule");
            let task = crate::control::tasks::get(c, run.task_id)?.unwrap();
            let crate::api::gateway::TaskSpec::Backup(spec) = task.spec else {
                panic!("not a backup task: {:?}", task.spec);
            };
            assert_eq!(spec.speed_limit_kib, Some(1024));
            assert_eq!(spec.backup_method, BackupMethod::Logical);
            Ok(())
        });
    }

    #[test]
    fn a_window_that_comes_while_the_last_backup_runs_is_skipped() {
        with_scheduled_plan(|c, _, _| {
            let fired = fire_due(c, FRIDAY_0230)?;
            assert_eq!(fired.len(), 1);
            // A week on, the first backup still queued: none is added,
            // and the window after is kept.
            assert!(fire_due(c, FRIDAY_0230 + WEEK_MS)?.is_empty());
            assert_eq!(runs_of(c)?, 1);
            let plan = plans::get(c, "p1")?.unwrap();
            assert_eq!(plan.next_run_ms, Some(FRIDAY_0230 + 2 * WEEK_MS));
            // Once it ended, the next window fires.
            let run = runs::get(c, &fired[0].set_id)?.unwrap();
            c.execute(
                "UPDATE tasks SET state = 'failed' WHERE id = ?1",
                [run.task_id],
            )?;
            assert_eq!(fire_due(c, FRIDAY_0230 + 2 * WEEK_MS)?.len(), 1);
            Ok(())
        });
    }

    #[test]
    fn the_smaller_of_the_speed_and_rate_limits_is_the_tasks_and_0_is_none() {
        with_scheduled_plan(|_, _, plan| {
            let limit = |plan: &plans::Plan, speed, rate| {
                let mut plan = plan.clone();
                let backup = plan.backup.as_mut().unwrap();
                (backup.speed_limit_kib, backup.rate_limit_kib) = (speed, rate);
                backup_spec(&plan, "s1".into()).unwrap().speed_limit_kib
            };
            assert_eq!(limit(&plan, Some(1024), Some(512)), Some(512));
            assert_eq!(limit(&plan, Some(256), Some(512)), Some(256));
            assert_eq!(limit(&plan, None, Some(512)), Some(512));
            assert_eq!(limit(&plan, Some(0), Some(512)), Some(512));
            assert_eq!(limit(&plan, Some(0), None), None);
            Ok(())
        });
    }

    #[test]
    fn stopped_and_manual_plans_do_not_fire() {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        store
            .call_now(|c| {
                let mut plan = plan_with_schedule(c, 1)?;
                plan.status = plans::status::STOP.into();
                plans::save(c, &plan)?;
                assert!(fire_due(c, FRIDAY_0230 + WEEK_MS)?.is_empty());
                let backup = plan.backup.as_mut().unwrap();
                backup.strategy_type = STRATEGY_MANUAL.into();
                assert_eq!(next_run(backup, FRIDAY_0230), None);
                Ok(())
            })
            .unwrap();
    }
}
