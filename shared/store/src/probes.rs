//! The prober's state: when each registry's next pass is due (claimed like syncs, so one worker of any
//! number queues it), its jobs, and the results of each remote of each server version, with their tool lists
//! (stored once per hash) and the changes between them. Results go with their server version (a foreign
//! key), their remote (see [`Store::retain_probed_remotes`]) and their registry.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::content::ContentWrite;
use crate::dialect::{Dialect, sql};
use crate::error::StoreError;
use crate::handle::{Store, on_backend};
use crate::jobs::task::QueuedTask;
use crate::jobs::{Enqueued, JobError, ProbeRegistry, ProbeScope};
use crate::query::{like_anywhere, search_term};
use crate::rows::{now, parse_registry_name};
use crate::sql_store::SqlStore;
use crate::timestamp::Timestamp;
use registry_core::model::RegistryName;
use registry_core::probe::{Outcome, ProbeResult, ToolChanges, ToolList};

/// Results kept per remote; older ones are dropped as new ones come.
pub const KEPT_RESULTS: i64 = 10;
/// Tool changes kept per remote.
pub const KEPT_CHANGES: i64 = 10;

/// A registry whose probe pass was claimed, for the time it was due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueProbe {
    pub registry: RegistryName,
    pub slot: DateTime<Utc>,
}

/// A server version to probe: its latest body.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub name: String,
    pub version: String,
    pub body: String,
}

/// A stored result, with the registry, server and version it belongs to.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredProbe {
    pub registry: RegistryName,
    pub name: String,
    pub version: String,
    #[serde(flatten)]
    pub result: ProbeResult,
    /// The hash of the tool list of an `ok` probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_count: Option<u32>,
}

/// A change of a remote's tool list between two probes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolChange {
    pub changed_at: DateTime<Utc>,
    pub old_hash: String,
    pub new_hash: String,
    #[serde(flatten)]
    pub changes: ToolChanges,
}

/// One remote of a server version: its latest result (with the tools), the older ones (without), and the
/// changes of its tool list, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteProbes {
    pub latest: StoredProbe,
    pub history: Vec<StoredProbe>,
    pub changes: Vec<ToolChange>,
}

/// What recording a result found: the change of the tool list since the remote's previous list, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    pub changes: Option<ToolChanges>,
}

/// Which latest results a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ProbeFilter {
    pub registry: Option<RegistryName>,
    pub outcome: Option<Outcome>,
}

/// Where a listing of latest results goes on: after this (registry, name, version, url).
pub type ProbeCursor = (String, String, String, String);

/// A server whose latest probe lists tools matching a search.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolMatch {
    pub registry: RegistryName,
    pub name: String,
    pub version: String,
    pub url: String,
    /// The tools whose name or description holds the term.
    pub tools: Vec<Value>,
}

/// A result row: what [`RESULT_COLUMNS`] selects.
#[derive(sqlx::FromRow)]
struct ResultRow {
    registry: String,
    name: String,
    version: String,
    url: String,
    probed_at: Timestamp,
    duration_ms: i64,
    outcome: String,
    http_status: Option<i32>,
    protocol_version: Option<String>,
    server_info: Option<Json<Value>>,
    capabilities: Option<Json<Value>>,
    resource_metadata: Option<String>,
    detail: Option<String>,
    tools_hash: Option<String>,
    truncated: bool,
    prompts: Option<i32>,
    resources: Option<i32>,
    tool_count: Option<i32>,
    /// Selected only where the tools are served.
    tools: Option<String>,
}

/// The columns of a result with its list's size; `{tools}` is replaced by the tool list's column or null.
const RESULT_COLUMNS: &str = "select p.registry, p.name, p.version, p.url, p.probed_at, p.duration_ms, \
     p.outcome, p.http_status, p.protocol_version, p.server_info, p.capabilities, p.resource_metadata, p.detail, \
     p.tools_hash, p.truncated, p.prompts, p.resources, t.tool_count, ";
const RESULT_FROM: &str = " from probe_result p left join probe_tool_list t on t.hash = p.tools_hash";
/// Latest results of latest versions that are not deleted: a version that a newer one replaced is not
/// probed any more, and its last results are history, not what its server offers now.
const CURRENT_ONLY: &str = " join server_version cv on cv.registry = p.registry and cv.name = p.name \
     and cv.version = p.version and cv.is_latest and cv.status <> 'deleted' where p.latest";
/// Of registries that probe (to follow [`CURRENT_ONLY`]).
const PROBING_ONLY: &str =
    " and exists (select 1 from registry r where r.name = p.registry and r.probe_interval_ms is not null)";

fn count(value: Option<i32>) -> Option<u32> {
    value.and_then(|n| u32::try_from(n).ok())
}

impl TryFrom<ResultRow> for StoredProbe {
    type Error = StoreError;

    fn try_from(row: ResultRow) -> Result<Self, StoreError> {
        let outcome = Outcome::parse(&row.outcome)
            .ok_or_else(|| StoreError::corrupt(format!("unknown probe outcome {:?}", row.outcome)))?;
        let tools = row
            .tools
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| StoreError::unreadable("a stored tool list", e))
            })
            .transpose()?;
        Ok(Self {
            registry: parse_registry_name(&row.registry)?,
            name: row.name,
            version: row.version,
            result: ProbeResult {
                url: Some(row.url).filter(|url| !url.is_empty()),
                probed_at: row.probed_at.0,
                duration_ms: row.duration_ms.unsigned_abs(),
                outcome,
                http_status: row.http_status.and_then(|status| u16::try_from(status).ok()),
                protocol_version: row.protocol_version,
                server_info: row.server_info.map(|json| json.0),
                capabilities: row.capabilities.map(|json| json.0),
                resource_metadata: row.resource_metadata,
                detail: row.detail,
                tools: tools.map(ToolList),
                truncated: row.truncated,
                prompts: count(row.prompts),
                resources: count(row.resources),
            },
            tools_hash: row.tools_hash,
            tool_count: count(row.tool_count),
        })
    }
}

/// The lowercased names and descriptions of a list's tools, which searches match.
fn tools_search_text(tools: &ToolList) -> String {
    let mut text = String::new();
    for tool in &tools.0 {
        for field in ["name", "title", "description"] {
            if let Some(value) = tool.get(field).and_then(Value::as_str) {
                text.push_str(&value.to_lowercase());
                text.push(registry_core::digest::SEARCH_SEPARATOR);
            }
        }
    }
    text
}

impl Store {
    /// Claims the registries, with probing on, whose probe pass is due (a registry probing has not reached
    /// yet, or whose definition changed, is due at once), and moves each one's next pass an interval past
    /// `now`, in one transaction; the caller enqueues their jobs. Concurrent callers never claim one
    /// registry for the same slot.
    pub async fn claim_due_probes(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueProbe>, StoreError> {
        on_backend!(self, db => {
            let mut tx = DB::begin_write(&db.write, None).await?;
            let mut reached = sql!(DB;
                "insert into probe_schedule (registry, updated_at) select name, " {Timestamp(now)}
                " from registry where probe_interval_ms is not null on conflict (registry) do nothing"
            );
            DB::execute(&mut tx, &mut reached).await?;
            let mut due = sql!(DB;
                "select s.registry, coalesce(s.next_due_at, " {Timestamp(now)} ") as slot, r.probe_interval_ms \
                 from probe_schedule s join registry r on r.name = s.registry \
                 where r.probe_interval_ms is not null and (s.next_due_at is null or s.next_due_at <= "
                {Timestamp(now)} ") order by slot limit " {i64::from(limit)}
            );
            due.push(DB::CLAIM_ROWS);
            let rows: Vec<(String, Timestamp, i64)> = DB::fetch_all(&mut tx, &mut due).await?;
            let mut claimed = Vec::with_capacity(rows.len());
            for (registry, slot, interval_ms) in rows {
                let next = Timestamp(now + chrono::Duration::milliseconds(interval_ms));
                let mut claim = sql!(DB;
                    "update probe_schedule set next_due_at = " {next} ", updated_at = " {Timestamp(now)}
                    " where registry = " {registry.as_str()}
                );
                DB::execute(&mut tx, &mut claim).await?;
                claimed.push(DueProbe { registry: parse_registry_name(&registry)?, slot: slot.0 });
            }
            tx.commit().await?;
            Ok(claimed)
        })
    }

    /// The registries, with probing on, that hold a latest version no probe has reached yet: a sync or a
    /// publish just added it.
    pub async fn registries_with_unprobed(&self) -> Result<Vec<RegistryName>, StoreError> {
        on_backend!(self, db => {
            let select = || sql!(DB;
                "select r.name from registry r where r.probe_interval_ms is not null and exists (\
                 select 1 from server_version sv where sv.registry = r.name and sv.is_latest \
                 and sv.status <> 'deleted' and not exists (select 1 from probe_result p \
                 where p.registry = sv.registry and p.name = sv.name and p.version = sv.version))"
            );
            let rows: Vec<(String,)> = db.fetch_all(select).await?;
            rows.into_iter().map(|(name,)| parse_registry_name(&name)).collect()
        })
    }

    /// Queues `job` unless a live (queued or running) probe job of its registry covers it: any live pass
    /// covers one of new versions, and only a full one covers a full pass. A pass of the registry's interval
    /// (`slot` set) is queued whatever runs, once per slot. The job is recorded as the registry's last, with
    /// its scope, in the transaction that pushes it.
    pub async fn enqueue_probe(
        &self,
        job: &ProbeRegistry,
        slot: Option<DateTime<Utc>>,
    ) -> Result<Enqueued, JobError> {
        let registry = job.registry.as_str();
        let (current, current_scope) = on_backend!(self, db => {
            let select = || sql!(DB; "select job_id, job_scope from probe_schedule where registry = " {registry});
            let rows: Vec<(Option<String>, Option<String>)> = db.fetch_all(select).await?;
            rows.into_iter().next().unwrap_or_default()
        });
        let covers = job.scope == ProbeScope::New || current_scope.as_deref() == Some("all");
        if slot.is_none()
            && covers
            && let Some(id) = &current
            && self.job_state(id).await?.is_alive()
        {
            return Ok(Enqueued::AlreadyQueued { job_id: id.clone() });
        }
        let key = slot.map(|slot| format!("probe:{registry}@{}", slot.timestamp_micros()));
        let task = QueuedTask::new(job, key, None)?;
        // A full pass that a live pass of new versions does not cover is queued as the interval's is.
        let force = slot.is_some() || !covers;
        let pushed = self.mark_probe_job(&job.registry, &task, job.scope, current.as_deref(), force).await?;
        if pushed {
            Ok(Enqueued::Queued { job_id: task.id })
        } else {
            Ok(Enqueued::AlreadyQueued { job_id: current.unwrap_or_default() })
        }
    }

    /// Marks `task` as the registry's probe job if `current` still is, and pushes it, in one transaction;
    /// with `force`, pushes it whatever the mark. Whether it pushed.
    async fn mark_probe_job(
        &self,
        registry: &RegistryName,
        task: &QueuedTask,
        scope: ProbeScope,
        current: Option<&str>,
        force: bool,
    ) -> Result<bool, StoreError> {
        let scope = match scope {
            ProbeScope::All => "all",
            ProbeScope::New => "new",
        };
        let registry = registry.as_str();
        on_backend!(self, db => {
            let mut tx = DB::begin_write(&db.write, None).await?;
            let now = Timestamp(now());
            let mut reached = sql!(DB;
                "insert into probe_schedule (registry, updated_at) values (" [registry, now]
                ") on conflict (registry) do nothing"
            );
            DB::execute(&mut tx, &mut reached).await?;
            // Another caller may have queued one since `current` was read: then this one is not.
            let mut mark = sql!(DB;
                "update probe_schedule set job_id = " {task.id.as_str()} ", job_scope = " {scope} ", updated_at = " {now}
                " where registry = " {registry} " and coalesce(job_id, '') = " {current.unwrap_or("")}
            );
            let marked = DB::execute(&mut tx, &mut mark).await? == 1;
            if marked || force {
                SqlStore::<DB>::push_task(&mut tx, task).await?;
                tx.commit().await?;
            }
            Ok(marked || force)
        })
    }

    /// Up to `limit` latest, not deleted, versions of `registry` in name order after `after`; with
    /// `unprobed`, only those no probe has reached.
    pub async fn probe_targets(
        &self,
        registry: &RegistryName,
        unprobed: bool,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ProbeTarget>, StoreError> {
        on_backend!(self, db => {
            let select = || {
                let mut select = sql!(DB;
                    "select sv.name, sv.version, sv.body from server_version sv where sv.registry = "
                    {registry.as_str()} " and sv.is_latest and sv.status <> 'deleted' and sv.name > " {after.unwrap_or("")}
                );
                if unprobed {
                    select.push(
                        " and not exists (select 1 from probe_result p where p.registry = sv.registry \
                         and p.name = sv.name and p.version = sv.version)",
                    );
                }
                select.push(" order by sv.name limit ");
                DB::bind(&mut select, i64::from(limit));
                select
            };
            let rows: Vec<(String, String, String)> = db.fetch_all(select).await?;
            Ok(rows.into_iter().map(|(name, version, body)| ProbeTarget { name, version, body }).collect())
        })
    }

    /// Records one probe of a remote of `name` `version` in `registry`: it becomes the remote's latest,
    /// its tool list is stored unless a list with its hash is, a change of the list since the remote's
    /// previous one is recorded, and only the newest [`KEPT_RESULTS`] results stay. Nothing is recorded
    /// for a version that is gone by now.
    pub async fn record_probe(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
        result: &ProbeResult,
    ) -> Result<Recorded, StoreError> {
        let url = result.url.as_deref().unwrap_or("");
        let hash = result.tools.as_ref().map(ToolList::hash);
        on_backend!(self, db => {
            // The latest outcome and tool list are what the MCP tools answer: a change of them is a change of
            // content, which bumps the registry's generation so that no cached answer outlives it.
            // Serialised with every other write to this server: two probes of one remote at once (two passes,
            // or a version that lists a URL twice) record one after the other, never two latest results.
            let mut tx = ContentWrite::<DB>::begin(&db.write, Some((registry, name))).await?;
            let key = |qb: &mut sqlx::QueryBuilder<DB>| {
                qb.push(" where registry = ");
                DB::bind(qb, registry.as_str());
                qb.push(" and name = ");
                DB::bind(qb, name);
                qb.push(" and version = ");
                DB::bind(qb, version);
                qb.push(" and url = ");
                DB::bind(qb, url);
            };
            let mut exists = sql!(DB;
                "select count(*) from server_version where registry = " {registry.as_str()}
                " and name = " {name} " and version = " {version}
            );
            let found: Vec<(i64,)> = DB::fetch_all(tx.conn(), &mut exists).await?;
            if found.first().is_none_or(|(n,)| *n == 0) {
                return Ok(Recorded::default());
            }
            let mut last = sql!(DB; "select tools_hash from probe_result");
            key(&mut last);
            last.push(" and tools_hash is not null order by id desc limit 1");
            let last: Vec<(Option<String>,)> = DB::fetch_all(tx.conn(), &mut last).await?;
            let last_hash = last.into_iter().next().and_then(|(hash,)| hash);
            let mut latest = sql!(DB; "select outcome, tools_hash, truncated from probe_result");
            key(&mut latest);
            latest.push(" and latest");
            let latest: Vec<(String, Option<String>, bool)> = DB::fetch_all(tx.conn(), &mut latest).await?;
            let shown = (result.outcome.as_str().to_owned(), hash.clone(), result.truncated);
            if latest.into_iter().next().is_none_or(|before| before != shown) {
                tx.touch(registry.as_str());
            }
            let mut recorded = Recorded::default();
            if let (Some(tools), Some(hash)) = (&result.tools, &hash) {
                let count = i32::try_from(tools.0.len()).unwrap_or(i32::MAX);
                let mut store_list = sql!(DB;
                    "insert into probe_tool_list (hash, tools, tool_count, search_text) values ("
                    [hash.as_str(), tools.to_json(), count, tools_search_text(tools)]
                    ") on conflict (hash) do nothing"
                );
                DB::execute(tx.conn(), &mut store_list).await?;
                if let Some(old_hash) = last_hash.filter(|old| old != hash) {
                    let mut old = sql!(DB; "select tools from probe_tool_list where hash = " {old_hash.as_str()});
                    let old: Vec<(String,)> = DB::fetch_all(tx.conn(), &mut old).await?;
                    let old = match old.into_iter().next() {
                        Some((text,)) => ToolList(
                            serde_json::from_str(&text).map_err(|e| StoreError::unreadable("a stored tool list", e))?,
                        ),
                        None => ToolList(Vec::new()),
                    };
                    let changes = ToolChanges::between(&old, tools);
                    let mut change = sql!(DB;
                        "insert into probe_change (registry, name, version, url, changed_at, old_hash, new_hash, changes) \
                         values (" [registry.as_str(), name, version, url, Timestamp(result.probed_at),
                         old_hash.as_str(), hash.as_str(), Json(&changes)] ")"
                    );
                    DB::execute(tx.conn(), &mut change).await?;
                    let mut prune = sql!(DB; "delete from probe_change");
                    key(&mut prune);
                    prune.push(" and id not in (select id from probe_change");
                    key(&mut prune);
                    prune.push(" order by id desc limit ");
                    DB::bind(&mut prune, KEPT_CHANGES);
                    prune.push(")");
                    DB::execute(tx.conn(), &mut prune).await?;
                    recorded.changes = Some(changes);
                }
            }
            let mut older = sql!(DB; "update probe_result set latest = false");
            key(&mut older);
            older.push(" and latest");
            DB::execute(tx.conn(), &mut older).await?;
            let duration_ms = i64::try_from(result.duration_ms).unwrap_or(i64::MAX);
            let to_i32 = |n: Option<u32>| n.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
            let mut insert = sql!(DB;
                "insert into probe_result (registry, name, version, url, latest, probed_at, duration_ms, outcome, \
                 http_status, protocol_version, server_info, capabilities, resource_metadata, detail, tools_hash, \
                 truncated, prompts, resources) values ("
                [registry.as_str(), name, version, url, true, Timestamp(result.probed_at), duration_ms,
                 result.outcome.as_str(), result.http_status.map(i32::from), result.protocol_version.as_deref(),
                 result.server_info.as_ref().map(Json), result.capabilities.as_ref().map(Json),
                 result.resource_metadata.as_deref(), result.detail.as_deref(), hash.as_deref(), result.truncated,
                 to_i32(result.prompts), to_i32(result.resources)]
                ")"
            );
            DB::execute(tx.conn(), &mut insert).await?;
            let mut prune = sql!(DB; "delete from probe_result");
            key(&mut prune);
            prune.push(" and id not in (select id from probe_result");
            key(&mut prune);
            prune.push(" order by id desc limit ");
            DB::bind(&mut prune, KEPT_RESULTS);
            prune.push(")");
            DB::execute(tx.conn(), &mut prune).await?;
            tx.commit().await?;
            Ok(recorded)
        })
    }

    /// Drops the results and changes of remotes that `name` `version` no longer lists: `urls` are the ones
    /// it lists ('' for none).
    pub async fn retain_probed_remotes(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
        urls: &[String],
    ) -> Result<(), StoreError> {
        on_backend!(self, db => {
            let mut tx = DB::begin_write(&db.write, None).await?;
            for table in ["probe_result", "probe_change"] {
                let mut delete = sql!(DB; "delete from " table " where registry = " {registry.as_str()}
                    " and name = " {name} " and version = " {version} " and not ");
                DB::push_one_of(&mut delete, "url", urls.to_vec());
                DB::execute(&mut tx, &mut delete).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Ends a pass of `registry`: notes when, and drops the tool lists no result refers to any more.
    pub async fn finish_probe_pass(&self, registry: &RegistryName) -> Result<(), StoreError> {
        on_backend!(self, db => {
            let mut tx = DB::begin_write(&db.write, None).await?;
            let now = Timestamp(now());
            let mut done = sql!(DB;
                "update probe_schedule set last_pass_at = " {now} ", updated_at = " {now}
                " where registry = " {registry.as_str()}
            );
            DB::execute(&mut tx, &mut done).await?;
            let mut orphans = sql!(DB;
                "delete from probe_tool_list where not exists \
                 (select 1 from probe_result p where p.tools_hash = probe_tool_list.hash) \
                 and not exists (select 1 from probe_change c where c.old_hash = probe_tool_list.hash)"
            );
            DB::execute(&mut tx, &mut orphans).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every remote probed of `name` `version` in `registry`, in URL order: see [`RemoteProbes`].
    pub async fn probe_report(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
    ) -> Result<Vec<RemoteProbes>, StoreError> {
        let (results, changes) = on_backend!(self, db => {
            let select = || sql!(DB; RESULT_COLUMNS "case when p.latest then t.tools end as tools" RESULT_FROM
                " where p.registry = " {registry.as_str()} " and p.name = " {name} " and p.version = " {version}
                " order by p.url, p.id desc");
            let results: Vec<ResultRow> = db.fetch_all(select).await?;
            let changes = || sql!(DB; "select url, changed_at, old_hash, new_hash, changes from probe_change \
                where registry = " {registry.as_str()} " and name = " {name} " and version = " {version}
                " order by url, id desc");
            let changes: Vec<(String, Timestamp, String, String, Json<ToolChanges>)> = db.fetch_all(changes).await?;
            (results, changes)
        });
        let mut remotes: Vec<RemoteProbes> = Vec::new();
        for row in results {
            let probe = StoredProbe::try_from(row)?;
            match remotes.last_mut() {
                Some(remote) if remote.latest.result.url == probe.result.url => remote.history.push(probe),
                _ => remotes.push(RemoteProbes { latest: probe, history: Vec::new(), changes: Vec::new() }),
            }
        }
        for (url, changed_at, old_hash, new_hash, Json(changes)) in changes {
            let url = Some(url).filter(|url| !url.is_empty());
            if let Some(remote) = remotes.iter_mut().find(|remote| remote.latest.result.url == url) {
                remote.changes.push(ToolChange { changed_at: changed_at.0, old_hash, new_hash, changes });
            }
        }
        Ok(remotes)
    }

    /// The latest result of every remote, without tools, in (registry, name, version, url) order after
    /// `after`: up to `limit`, as `filter` narrows them.
    pub async fn list_probes(
        &self,
        filter: &ProbeFilter,
        after: Option<&ProbeCursor>,
        limit: u32,
    ) -> Result<Vec<StoredProbe>, StoreError> {
        let rows: Vec<ResultRow> = on_backend!(self, db => {
            let select = || {
                let mut select = sql!(DB; RESULT_COLUMNS "null as tools" RESULT_FROM CURRENT_ONLY);
                if let Some(registry) = &filter.registry {
                    select.push(" and p.registry = ");
                    DB::bind(&mut select, registry.as_str());
                }
                if let Some(outcome) = filter.outcome {
                    select.push(" and p.outcome = ");
                    DB::bind(&mut select, outcome.as_str());
                }
                if let Some((registry, name, version, url)) = after {
                    // Row values compare on both backends.
                    select.push(" and (p.registry, p.name, p.version, p.url) > (");
                    for (i, part) in [registry, name, version, url].into_iter().enumerate() {
                        if i > 0 {
                            select.push(", ");
                        }
                        DB::bind(&mut select, part.as_str());
                    }
                    select.push(")");
                }
                select.push(" order by p.registry, p.name, p.version, p.url limit ");
                DB::bind(&mut select, i64::from(limit));
                select
            };
            db.fetch_all(select).await?
        });
        rows.into_iter().map(StoredProbe::try_from).collect()
    }

    /// The latest result of each remote of `name` `version` in `registry`, with its tools.
    pub async fn latest_probes(
        &self,
        registry: &RegistryName,
        name: &str,
        version: &str,
    ) -> Result<Vec<StoredProbe>, StoreError> {
        let rows: Vec<ResultRow> = on_backend!(self, db => {
            let select = || sql!(DB; RESULT_COLUMNS "t.tools" RESULT_FROM " where p.latest and p.registry = "
                {registry.as_str()} " and p.name = " {name} " and p.version = " {version} " order by p.url");
            db.fetch_all(select).await?
        });
        rows.into_iter().map(StoredProbe::try_from).collect()
    }

    /// The remotes whose latest `ok` probe lists a tool whose name, title or description holds `term`
    /// (case-insensitive), in (registry, name, url) order: up to `limit`, each with the matching tools.
    pub async fn search_tools(&self, term: &str, limit: u32) -> Result<Vec<ToolMatch>, StoreError> {
        let term = search_term(term);
        let rows: Vec<(String, String, String, String, String)> = on_backend!(self, db => {
            let select = || sql!(DB; "select p.registry, p.name, p.version, p.url, t.tools from probe_result p \
                join probe_tool_list t on t.hash = p.tools_hash" CURRENT_ONLY PROBING_ONLY " and t.search_text like "
                {like_anywhere(&term)} " escape '\\' order by p.registry, p.name, p.url limit " {i64::from(limit)});
            db.fetch_all(select).await?
        });
        let holds = |tool: &Value| {
            ["name", "title", "description"].into_iter().any(|field| {
                tool.get(field)
                    .and_then(Value::as_str)
                    .is_some_and(|text| text.to_lowercase().contains(&term))
            })
        };
        rows.into_iter()
            .map(|(registry, name, version, url, tools)| {
                let tools: Vec<Value> = serde_json::from_str(&tools)
                    .map_err(|e| StoreError::unreadable("a stored tool list", e))?;
                Ok(ToolMatch {
                    registry: parse_registry_name(&registry)?,
                    name,
                    version,
                    url,
                    tools: tools.into_iter().filter(holds).collect(),
                })
            })
            .collect()
    }

    /// The remotes per registry and latest outcome, for the gauge read at scrape time.
    pub async fn probe_outcome_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        on_backend!(self, db => {
            db.fetch_all(|| sql!(DB; "select p.registry, p.outcome, count(*) from probe_result p" CURRENT_ONLY PROBING_ONLY
                " group by p.registry, p.outcome"))
            .await
        })
    }
}
