//! The backup-plan actions that make and change plans: CreateBackupPlan,
//! ConfigureBackupPlan, CreateAndStartBackupPlan, StartBackupPlan,
//! StopBackupPlan, ModifyBackupObjects, ModifyBackupStrategy,
//! ModifyBackupSourceEndpoint, ModifyBackupPlanName, ModifyStorageStrategy
//! and ReleaseBackupPlan.
//!
//! A plan's status goes `wait` (created) → `init` (configured) → `running`
//! (started: its schedule fires) ⇄ `stop`, and `release` for good. The
//! source is always a database on a backup gateway's host
//! (`SourceEndpointInstanceType=agent`); the gateway logs in with its own
//! `[[databases]]` entry, so `SourceEndpointPassword` is never read, kept
//! or logged. Plans of the admin CLI have no source: only their name and
//! retention can change.

use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::api::backup_objects;
use crate::api::gateway::{BackupMethod, PreCheckSpec, TaskSpec};
use crate::api::{bounds, ApiError};
use crate::control::call::Call;
use crate::control::catalog::plans::{self, status, Backup, Plan};
use crate::control::catalog::runs::Trigger;
use crate::control::schedule::Weekly;
use crate::control::scheduler::{self, STRATEGY_MANUAL, STRATEGY_SIMPLE};
use crate::control::{store, tasks, ControlPlane};

use super::{flag, internal};

/// The billing fields CreateBackupPlan records (nothing is charged).
const BILLING_FIELDS: [&str; 11] = [
    "PayType",
    "Period",
    "UsedTime",
    "InstanceClass",
    "InstanceType",
    "Region",
    "StorageType",
    "StorageRegion",
    "DatabaseRegion",
    "FromApp",
    "ResourceGroupId",
];

/// Longest `BackupRetentionPeriod`, days (five years, as DBS allows).
const MAX_RETENTION_DAYS: i64 = 1825;

/// The only `SourceEndpointInstanceType` backed up.
const INSTANCE_TYPE_AGENT: &str = "agent";

/// CreateBackupPlan: records a plan in status `wait` and answers its id.
pub async fn create(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let (plan, _) = create_plan(plane, call).await?;
    Ok(json!({ "BackupPlanId": plan.id }))
}

/// ConfigureBackupPlan: sets the source, objects, schedule, limits,
/// retention and name, queues a pre-check on the gateway, and with
/// `AutoStartBackup=true` starts the plan.
pub async fn configure(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let id = call.require("BackupPlanId")?.to_string();
    refuse_log_backup(call)?;
    let method = method_of(&super::backup_sets::known_plan(plane, &id).await?)?;
    let settings = Settings::from_call(plane, call, method).await?;
    let start = flag(call, "AutoStartBackup")?;
    let started = apply(plane, &id, settings, start).await?;
    let mut answer = json!({ "BackupPlanId": id });
    if let Some(set_id) = started {
        answer["CreatedFullBackupsetId"] = set_id.into();
    }
    Ok(answer)
}

/// CreateAndStartBackupPlan: CreateBackupPlan, ConfigureBackupPlan and
/// StartBackupPlan in one call. Every parameter is checked before the plan
/// is made.
pub async fn create_and_start(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    database_type(call)?;
    refuse_log_backup(call)?;
    let method = backup_method(call)?;
    let settings = Settings::from_call(plane, call, method).await?;
    let (plan, made) = create_plan(plane, call).await?;
    if !made {
        // A repeated call (same ClientToken): the plan was made and started
        // by the first; nothing runs twice.
        return Ok(json!({ "BackupPlanId": plan.id, "CreateBackupSet": false }));
    }
    let id = plan.id;
    let set_id = apply(plane, &id, settings, true).await?;
    Ok(json!({
        "BackupPlanId": id,
        "CreateBackupSet": true,
        "CreatedFullBackupsetId": set_id,
    }))
}

/// StartBackupPlan: the plan runs (its schedule fires) and takes a full
/// backup now, whose set id it answers.
pub async fn start(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let id = call.require("BackupPlanId")?.to_string();
    let (set_id, gateway_id) = change(plane, &id, start_plan).await?;
    plane.notifier.wake(gateway_id);
    Ok(json!({ "BackupPlanId": id, "CreatedFullBackupsetId": set_id }))
}

/// StopBackupPlan: no more scheduled runs; a backup under way finishes.
pub async fn stop(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let id = call.require("BackupPlanId")?.to_string();
    change(plane, &id, |_, plan, _| {
        configured(plan)?;
        plan.status = status::STOP.into();
        plan.next_run_ms = None;
        Ok(())
    })
    .await?;
    Ok(json!({ "BackupPlanId": id }))
}

/// ReleaseBackupPlan: nothing runs again. The plan stays listed as
/// `release` with its sets until they expire; it cannot change any more.
pub async fn release(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let id = call.require("BackupPlanId")?.to_string();
    change(plane, &id, |_, plan, _| {
        plan.status = status::RELEASED.into();
        plan.next_run_ms = None;
        Ok(())
    })
    .await?;
    Ok(json!({ "BackupPlanId": id }))
}

/// ModifyBackupObjects: what the plan's logical backups take.
pub async fn modify_objects(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let id = call.require("BackupPlanId")?.to_string();
    let given = call.require("BackupObjects")?.to_string();
    change(plane, &id, move |_, plan, _| {
        let method = method_of(plan)?;
        let objects = objects(Some(&given), method)?;
        configured_mut(plan)?.objects = objects;
        Ok(())
    })
    .await?;
    Ok(json!({ "BackupPlanId": id }))
}

/// ModifyBackupStrategy: the weekly schedule (or `manual`); a running
/// plan's next run is computed again from now.
pub async fn modify_strategy(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let id = call.require("BackupPlanId")?.to_string();
    let strategy = strategy(call)?;
    change(plane, &id, move |_, plan, now| {
        let backup = configured_mut(plan)?;
        strategy.apply(backup);
        let next = scheduler::next_run(backup, now);
        if plan.status == status::RUNNING {
            plan.next_run_ms = next;
        }
        Ok(())
    })
    .await?;
    Ok(json!({ "BackupPlanId": id }))
}

/// ModifyBackupSourceEndpoint: another database (or gateway); a pre-check
/// of the new source is queued.
pub async fn modify_source(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let id = call.require("BackupPlanId")?.to_string();
    let source = source(plane, call).await?;
    let given_objects = call.get("BackupObjects").map(str::to_string);
    let gateway_id = change(plane, &id, move |c, plan, now| {
        let method = method_of(plan)?;
        let new_objects = match &given_objects {
            Some(given) => Some(objects(Some(given), method)?),
            None => None,
        };
        let backup = configured_mut(plan)?;
        source.apply(backup);
        if let Some(new_objects) = new_objects {
            backup.objects = new_objects;
        }
        let gateway_id = backup.gateway_id;
        queue_precheck(c, plan, now)?;
        Ok(gateway_id)
    })
    .await?;
    plane.notifier.wake(gateway_id);
    Ok(json!({ "BackupPlanId": id }))
}

/// ModifyBackupPlanName.
pub async fn modify_name(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let id = call.require("BackupPlanId")?.to_string();
    let name = plan_name(call)?.ok_or_else(|| ApiError::missing("BackupPlanName"))?;
    change(plane, &id, move |_, plan, _| {
        plan.name = Some(name);
        Ok(())
    })
    .await?;
    Ok(json!({ "BackupPlanId": id }))
}

/// ModifyStorageStrategy: `BackupRetentionPeriod`, days a full set is kept
/// after it ended; the scheduler deletes expired sets.
pub async fn modify_storage(plane: &ControlPlane, call: &Call) -> Result<Value, ApiError> {
    let id = call.require("BackupPlanId")?.to_string();
    let days = retention_days(call)?.ok_or_else(|| ApiError::missing("BackupRetentionPeriod"))?;
    change(plane, &id, move |_, plan, _| {
        plan.retention_days = Some(days);
        Ok(())
    })
    .await?;
    Ok(json!({ "BackupPlanId": id }))
}

/// Checks CreateBackupPlan's parameters and records the plan; whether it
/// was made now (false: a call with the same `ClientToken` made it).
async fn create_plan(plane: &ControlPlane, call: &Call) -> Result<(Plan, bool), ApiError> {
    let client_token = super::client_token(call)?;
    let db_type = database_type(call)?;
    let method = backup_method(call)?;
    refuse_log_backup(call)?;
    let mut billing = Map::new();
    for field in BILLING_FIELDS {
        if let Some(value) = call.get(field) {
            bounds::display_name(value).map_err(|e| ApiError::invalid(field, e))?;
            billing.insert(field.into(), value.into());
        }
    }
    let billing = Value::Object(billing).to_string();
    let now = store::now_ms();
    let plan = plane
        .store
        .call(move |c| {
            let token = client_token.as_deref();
            let made_before = token.map(|t| plans::by_client_token(c, t)).transpose()?;
            if let Some(plan) = made_before.flatten() {
                return Ok((plan, false));
            }
            let id = new_plan_id();
            let plan =
                plans::create_with_token(c, &id, db_type, method.as_str(), &billing, token, now)?;
            Ok((plan, true))
        })
        .await
        .map_err(internal)?;
    if plan.1 {
        tracing::info!(plan = %plan.0.id, %db_type, method = method.as_str(), "backup plan created");
    }
    Ok(plan)
}

/// What ConfigureBackupPlan sets, checked.
struct Settings {
    backup: Backup,
    name: Option<String>,
    retention_days: Option<i64>,
}

impl Settings {
    async fn from_call(
        plane: &ControlPlane,
        call: &Call,
        method: BackupMethod,
    ) -> Result<Settings, ApiError> {
        Ok(Settings {
            backup: backup_settings(plane, call, method).await?,
            name: plan_name(call)?,
            retention_days: retention_days(call)?,
        })
    }
}

/// Configures the plan `id` (`wait` becomes `init`), queues a pre-check,
/// and with `start` starts it: the set id of the backup started, if any.
async fn apply(
    plane: &ControlPlane,
    id: &str,
    settings: Settings,
    start: bool,
) -> Result<Option<String>, ApiError> {
    let gateway_id = settings.backup.gateway_id;
    let set_id = change(plane, id, move |c, plan, now| {
        plan.backup = Some(settings.backup);
        if settings.name.is_some() {
            plan.name = settings.name;
        }
        if settings.retention_days.is_some() {
            plan.retention_days = settings.retention_days;
        }
        if plan.status == status::WAIT {
            plan.status = status::INIT.into();
        }
        if plan.status == status::RUNNING {
            plan.next_run_ms = plan
                .backup
                .as_ref()
                .and_then(|b| scheduler::next_run(b, now));
        }
        queue_precheck(c, plan, now)?;
        if start {
            return Ok(Some(start_plan(c, plan, now)?.0));
        }
        Ok(None)
    })
    .await?;
    plane.notifier.wake(gateway_id);
    Ok(set_id)
}

/// Runs `f` on the plan `id` in one transaction and saves the plan when it
/// succeeds. Released plans cannot change.
async fn change<T, F>(plane: &ControlPlane, id: &str, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &mut Plan, i64) -> Result<T, ApiError> + Send + 'static,
{
    let owned = id.to_string();
    let now = store::now_ms();
    plane
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            let Some(mut plan) = plans::get(&tx, &owned)? else {
                return Ok(Err(plan_not_found(&owned)));
            };
            if plan.status == status::RELEASED {
                return Ok(Err(ApiError::new(
                    400,
                    "BackupPlan.Released",
                    format!("Backup plan {owned} is released; it cannot change or run again."),
                )));
            }
            let done = f(&tx, &mut plan, now);
            if done.is_ok() {
                plans::save(&tx, &plan)?;
                tx.commit()?;
            }
            Ok(done)
        })
        .await
        .map_err(internal)?
}

/// Makes `plan` running and queues a full backup now: its set id and gateway.
fn start_plan(c: &Connection, plan: &mut Plan, now: i64) -> Result<(String, i64), ApiError> {
    configured(plan)?;
    plan.status = status::RUNNING.into();
    plan.next_run_ms = plan
        .backup
        .as_ref()
        .and_then(|b| scheduler::next_run(b, now));
    let started = scheduler::start(c, plan, Trigger::Manual, now)
        .map_err(internal)?
        .ok_or_else(|| not_configured(&plan.id))?;
    tracing::info!(plan = %plan.id, set = %started.set_id, "full backup queued");
    Ok((started.set_id, started.gateway_id))
}

/// Queues a pre-check of the plan's source on its gateway.
fn queue_precheck(c: &Connection, plan: &mut Plan, now: i64) -> Result<(), ApiError> {
    let method = method_of(plan)?;
    let backup = configured(plan)?;
    let spec = TaskSpec::PreCheck(PreCheckSpec {
        backup_plan_id: plan.id.clone(),
        source: scheduler::source_endpoint(plan, backup),
        backup_method: method,
    });
    let task_id = tasks::enqueue(c, backup.gateway_id, &spec, None, now).map_err(internal)?;
    plan.precheck_task_id = Some(task_id);
    Ok(())
}

/// The plan's source and schedule, or `BackupPlan.NotConfigured`.
fn configured(plan: &Plan) -> Result<&Backup, ApiError> {
    plan.backup.as_ref().ok_or_else(|| not_configured(&plan.id))
}

fn configured_mut(plan: &mut Plan) -> Result<&mut Backup, ApiError> {
    let id = plan.id.clone();
    plan.backup.as_mut().ok_or_else(|| not_configured(&id))
}

fn not_configured(id: &str) -> ApiError {
    ApiError::new(
        400,
        "BackupPlan.NotConfigured",
        format!("Backup plan {id} has no source yet; call ConfigureBackupPlan first."),
    )
}

fn plan_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "BackupPlan.NotFound",
        format!("Backup plan {id} does not exist."),
    )
}

/// The method of an API plan; CLI plans have none and take no backups.
fn method_of(plan: &Plan) -> Result<BackupMethod, ApiError> {
    plan.method
        .as_deref()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                400,
                "BackupPlan.NotConfigurable",
                format!(
                    "Backup plan {} was made by the admin CLI: it takes sets by hand and has no source; create one with CreateBackupPlan.",
                    plan.id
                ),
            )
        })
}

/// Every setting ConfigureBackupPlan takes, checked.
async fn backup_settings(
    plane: &ControlPlane,
    call: &Call,
    method: BackupMethod,
) -> Result<Backup, ApiError> {
    let source = source(plane, call).await?;
    let strategy = strategy(call)?;
    Ok(Backup {
        instance_type: INSTANCE_TYPE_AGENT.into(),
        gateway_id: source.gateway_id,
        ip: source.ip,
        port: source.port,
        user: source.user,
        objects: objects(call.get("BackupObjects"), method)?,
        strategy_type: strategy.strategy_type.into(),
        period: strategy.period,
        start_time: strategy.start_time,
        speed_limit_kib: call.parse("BackupSpeedLimit")?,
        rate_limit_kib: call.parse("BackupRateLimit")?,
    })
}

/// The source endpoint fields of a call, checked.
struct Source {
    gateway_id: i64,
    ip: String,
    port: u16,
    user: Option<String>,
}

impl Source {
    fn apply(self, backup: &mut Backup) {
        backup.instance_type = INSTANCE_TYPE_AGENT.into();
        backup.gateway_id = self.gateway_id;
        backup.ip = self.ip;
        backup.port = self.port;
        backup.user = self.user;
    }
}

/// `BackupStrategyType` with its period and start time, normalised.
struct Strategy {
    strategy_type: &'static str,
    period: Option<String>,
    start_time: Option<String>,
}

impl Strategy {
    fn apply(self, backup: &mut Backup) {
        backup.strategy_type = self.strategy_type.into();
        backup.period = self.period;
        backup.start_time = self.start_time;
    }
}

/// Checks the source endpoint parameters; the gateway must be registered.
async fn source(plane: &ControlPlane, call: &Call) -> Result<Source, ApiError> {
    let instance_type = call.require("SourceEndpointInstanceType")?;
    if !instance_type.eq_ignore_ascii_case(INSTANCE_TYPE_AGENT) {
        return Err(ApiError::new(
            400,
            "UnsupportedInstanceType",
            format!("SourceEndpointInstanceType {instance_type} is not backed up by this control plane; use agent (a database on a backup gateway's host, with BackupGatewayId)."),
        ));
    }
    let gateway_id: i64 = call.parse_required("BackupGatewayId")?;
    let ip = call.require("SourceEndpointIP")?.to_string();
    bounds::host(&ip).map_err(|e| ApiError::invalid("SourceEndpointIP", e))?;
    let port: u16 = call.parse_required("SourceEndpointPort")?;
    if port == 0 {
        return Err(ApiError::invalid(
            "SourceEndpointPort",
            "must be 1 to 65535",
        ));
    }
    let user = call.get("SourceEndpointUserName").map(str::to_string);
    if let Some(user) = &user {
        bounds::display_name(user).map_err(|e| ApiError::invalid("SourceEndpointUserName", e))?;
    }
    super::agent::gateway_by_id(plane, gateway_id).await?;
    Ok(Source {
        gateway_id,
        ip,
        port,
        user,
    })
}

/// `BackupStrategyType` (`simple` by default) with its period and start
/// time, normalised.
fn strategy(call: &Call) -> Result<Strategy, ApiError> {
    match call.get("BackupStrategyType").unwrap_or(STRATEGY_SIMPLE) {
        STRATEGY_MANUAL => Ok(Strategy {
            strategy_type: STRATEGY_MANUAL,
            period: None,
            start_time: None,
        }),
        STRATEGY_SIMPLE => {
            let weekly = Weekly::parse(
                call.require("BackupPeriod")?,
                call.require("BackupStartTime")?,
            )
            .map_err(|e| ApiError::new(400, e.code(), e.to_string()))?;
            Ok(Strategy {
                strategy_type: STRATEGY_SIMPLE,
                period: Some(weekly.period()),
                start_time: Some(weekly.start_time()),
            })
        }
        other => Err(ApiError::invalid(
            "BackupStrategyType",
            format!("{other:?} is neither simple (weekly) nor manual"),
        )),
    }
}

/// A checked `BackupObjects`; a physical backup takes the whole instance.
fn objects(given: Option<&str>, method: BackupMethod) -> Result<Option<String>, ApiError> {
    let Some(given) = given else {
        return Ok(None);
    };
    let parsed =
        backup_objects::parse(given).map_err(|e| ApiError::new(400, e.code(), e.to_string()))?;
    if parsed.is_empty() {
        return Ok(None);
    }
    if method == BackupMethod::Physical {
        return Err(ApiError::new(
            400,
            "InvalidParameter.BackupObjects",
            "BackupObjects: a physical backup takes the whole instance; name objects only for a logical one.",
        ));
    }
    Ok(Some(given.to_string()))
}

/// `DatabaseType`: MySQL only; SQL Server and Redis are refused by name.
fn database_type(call: &Call) -> Result<&'static str, ApiError> {
    let given = call.require("DatabaseType")?;
    if given.eq_ignore_ascii_case("MySQL") {
        return Ok("MySQL");
    }
    let why = if ["MSSQL", "SQLServer", "Redis"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(given))
    {
        "SQL Server and Redis backups are not supported by this gateway yet"
    } else {
        "is not a database type this gateway backs up"
    };
    Err(ApiError::new(
        400,
        "UnsupportedDatabaseType.Backup",
        format!("DatabaseType {given}: {why}; use MySQL (MySQL or MariaDB)."),
    ))
}

/// `BackupMethod`: `physical` or `logical`.
fn backup_method(call: &Call) -> Result<BackupMethod, ApiError> {
    let given = call.require("BackupMethod")?;
    given.parse().map_err(|()| {
        ApiError::new(
            400,
            "UnsupportedBackupMethod",
            format!("BackupMethod {given} is not supported; use physical or logical."),
        )
    })
}

/// Refuses `EnableBackupLog=true`: log backups are not taken yet.
fn refuse_log_backup(call: &Call) -> Result<(), ApiError> {
    if flag(call, "EnableBackupLog")? {
        return Err(ApiError::new(
            400,
            "UnsupportedBackupLog",
            "EnableBackupLog: log (binlog) backups are not supported by this gateway yet; plans take full backups.",
        ));
    }
    Ok(())
}

fn plan_name(call: &Call) -> Result<Option<String>, ApiError> {
    let name = call.get("BackupPlanName");
    if let Some(name) = name {
        bounds::display_name(name).map_err(|e| ApiError::invalid("BackupPlanName", e))?;
    }
    Ok(name.map(str::to_string))
}

fn retention_days(call: &Call) -> Result<Option<i64>, ApiError> {
    let days: Option<i64> = call.parse("BackupRetentionPeriod")?;
    if let Some(days) = days {
        if !(1..=MAX_RETENTION_DAYS).contains(&days) {
            return Err(ApiError::invalid(
                "BackupRetentionPeriod",
                format!("must be 1 to {MAX_RETENTION_DAYS} days"),
            ));
        }
    }
    Ok(days)
}

/// A fresh `BackupPlanId`.
fn new_plan_id() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    format!(
        "dbs{}",
        Alphanumeric
            .sample_string(&mut rand::rng(), 10)
            .to_ascii_lowercase()
    )
}
