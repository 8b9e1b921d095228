//! The read queries, written once for both backends.

use sqlx::QueryBuilder;

use crate::dialect::Dialect;
use crate::query::{ListQuery, Scope, VersionSelector};
use crate::timestamp::Timestamp;

/// The columns every record read selects.
const RECORD_COLUMNS: &str = "select sv.registry, sv.name, sv.version, sv.body, sv.status, sv.status_message, \
     sv.status_changed_at, sv.published_at, sv.updated_at, sv.is_latest from server_version sv where ";

/// The aggregated view shows the rows of the registry that owns each name (see [`OWNER`]).
const AGGREGATED: &str = "not sv.shadowed";

/// The registry that owns each name in the aggregated view: the first in config order with a live
/// (non-deleted) version of it or, when the name is deleted everywhere, the first that has it at all.
/// `shadowed` caches the answer per row; writes recompute it with this ranking, which the caller closes
/// (with a name filter or not) and cuts to `rank = 1`. One window pass per name keeps a server with
/// thousands of versions linear.
pub(crate) const OWNER_RANKING: &str = "select sv.name, sv.registry, row_number() over (partition by sv.name \
     order by sv.status = 'deleted', r.position) as rank from server_version sv join registry r on r.name = sv.registry";

fn push_scope<DB: Dialect>(qb: &mut QueryBuilder<DB>, scope: &Scope) {
    match scope {
        Scope::Aggregated => {
            qb.push(AGGREGATED);
        }
        Scope::Registry(name) => {
            qb.push("sv.registry = ");
            DB::bind(qb, name.as_str());
        }
    }
}

fn push_version<DB: Dialect>(qb: &mut QueryBuilder<DB>, selector: &VersionSelector) {
    match selector {
        VersionSelector::Latest => {
            qb.push(" and sv.is_latest");
        }
        VersionSelector::Exact(version) => {
            qb.push(" and sv.version = ");
            DB::bind(qb, version.as_str());
        }
    }
}

/// A search's page: the inner query picks the keys, on PostgreSQL from a covering index alone (walking names
/// in order until the page is full, instead of reading and sorting every match), and only the page's rows
/// are read whole. A list without a search reads its rows directly: its first rows are its page, and the
/// simpler statement plans in a third of the time.
const PAGE_COLUMNS: &str = "select v.registry, v.name, v.version, v.body, v.status, v.status_message, \
     v.status_changed_at, v.published_at, v.updated_at, v.is_latest from (select sv.registry, sv.name, sv.version \
     from server_version sv where ";
const PAGE_JOIN: &str = ") page join server_version v on v.registry = page.registry and v.name = page.name \
     and v.version = page.version order by v.name, v.version";

/// One page, plus one row to tell whether another page exists.
pub(crate) fn list<DB: Dialect>(query: &ListQuery) -> QueryBuilder<DB> {
    let by_keys = query.search.is_some();
    let mut qb = QueryBuilder::new(if by_keys { PAGE_COLUMNS } else { RECORD_COLUMNS });
    push_scope(&mut qb, &query.scope);
    if let Some(cursor) = &query.cursor {
        qb.push(" and (sv.name, sv.version) > (");
        DB::bind(&mut qb, cursor.name.as_str());
        qb.push(", ");
        DB::bind(&mut qb, cursor.version.as_str());
        qb.push(")");
    }
    if query.search.is_some() {
        qb.push(" and ");
        DB::push_search(&mut qb, query);
    }
    if let Some(selector) = &query.version {
        push_version(&mut qb, selector);
    }
    if let Some(since) = query.updated_since {
        qb.push(" and sv.updated_at > ");
        DB::bind(&mut qb, Timestamp(since));
    }
    if !query.shows_deleted() {
        qb.push(" and sv.status <> 'deleted'");
    }
    // The limit is written into the statement, not bound: PostgreSQL plans a bound limit as a tenth of the
    // table, so a prepared list's generic plan looked far dearer than a custom one and each execution was
    // planned again. Written in, the plan is made once per connection and limit.
    qb.push(" order by sv.name, sv.version limit ");
    qb.push(u64::from(query.limit) + 1);
    if by_keys {
        qb.push(PAGE_JOIN);
    }
    qb
}

/// What each version a list of `query` could show carries for the facets (every registry's, shadowed ones
/// marked, whatever the facets chosen; the search, the version selector and deletion apply): its key,
/// ownership in the aggregated view, status, remote flag, package types (a JSON list) and what the prober
/// found (3 ok, 2 requiresAuth, 1 unreachable, else not probed). One pass, counted and paged by the caller.
pub(crate) fn facet_rows<DB: Dialect>(query: &ListQuery) -> QueryBuilder<DB> {
    let mut qb = QueryBuilder::new(format!(
        "select sv.registry, sv.name, sv.version, not sv.shadowed as owner, sv.status, {} as remote, {} as types, \
         cast(coalesce(p.reach, 0) as bigint) as reach from server_version sv left join (select registry, name, version, \
         max(case when outcome = 'ok' then 3 when outcome = 'requiresAuth' then 2 \
         when outcome not in ('notProbed', 'needsConfiguration', 'unsupportedTransport') then 1 else 0 end) as reach \
         from probe_result where latest group by registry, name, version) p \
         on p.registry = sv.registry and p.name = sv.name and p.version = sv.version where true",
        DB::HAS_REMOTE,
        DB::PACKAGE_TYPE_LIST,
    ));
    if query.search.is_some() {
        qb.push(" and ");
        DB::push_search(&mut qb, query);
    }
    if let Some(selector) = &query.version {
        push_version(&mut qb, selector);
    }
    if !query.shows_deleted() {
        qb.push(" and sv.status <> 'deleted'");
    }
    qb
}

/// The versions at `keys` (registry, name, version), in no order.
pub(crate) fn versions_at<DB: Dialect>(keys: &[(String, String, String)]) -> QueryBuilder<DB> {
    let mut qb = QueryBuilder::new(RECORD_COLUMNS);
    for (i, (registry, name, version)) in keys.iter().enumerate() {
        qb.push(if i == 0 { "(sv.registry = " } else { " or (sv.registry = " });
        DB::bind(&mut qb, registry.as_str());
        qb.push(" and sv.name = ");
        DB::bind(&mut qb, name.as_str());
        qb.push(" and sv.version = ");
        DB::bind(&mut qb, version.as_str());
        qb.push(")");
    }
    qb
}

/// Every version of one server, newest publish first.
pub(crate) fn versions<DB: Dialect>(scope: &Scope, name: &str, include_deleted: bool) -> QueryBuilder<DB> {
    let mut qb = one_server(scope, name, include_deleted);
    qb.push(" order by sv.published_at desc, sv.version desc");
    qb
}

pub(crate) fn version<DB: Dialect>(
    scope: &Scope,
    name: &str,
    selector: &VersionSelector,
    include_deleted: bool,
) -> QueryBuilder<DB> {
    let mut qb = one_server(scope, name, include_deleted);
    push_version(&mut qb, selector);
    qb
}

fn one_server<DB: Dialect>(scope: &Scope, name: &str, include_deleted: bool) -> QueryBuilder<DB> {
    let mut qb = QueryBuilder::new(RECORD_COLUMNS);
    push_scope(&mut qb, scope);
    qb.push(" and sv.name = ");
    DB::bind(&mut qb, name);
    if !include_deleted {
        qb.push(" and sv.status <> 'deleted'");
    }
    qb
}
