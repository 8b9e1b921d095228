//! The OpenAPI 3.1 document, generated from the handlers, and Swagger UI at `/docs/`, whose assets are
//! compiled into the binary (it works offline and air-gapped).

use std::sync::OnceLock;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, Required, Response, ResponseBuilder};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::{
    AGGREGATED_PREFIXES, PER_REGISTRY_PREFIX, ROOT_WRITE_PREFIXES, exchanges, lifecycle, me, ops, probes,
    publish, registries, servers,
};
use crate::error::PROBLEM_JSON;
use crate::names::DOCS_PATH;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    let ui = SwaggerUi::new(DOCS_PATH.trim_end_matches('/')).config(Config::new(["/openapi.json"]));
    Router::new().route("/openapi.json", get(openapi_json)).merge(Router::from(ui))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MCP Registry Server",
        description = "MCP Registry API v0.1, aggregated over every registry and per registry, plus \
                       the registry extension API and operational endpoints."
    ),
    paths(
        servers::list_servers,
        servers::list_server_versions,
        servers::get_server_version,
        publish::publish_server,
        publish::validate_server,
        lifecycle::edit_server_version,
        lifecycle::delete_server_version,
        lifecycle::update_version_status,
        lifecycle::update_server_status,
        registries::list_registries,
        registries::get_registry,
        registries::sync_registry,
        probes::probe_registry,
        probes::get_version_probes,
        probes::list_probes,
        me::get_me,
        exchanges::publisher_health,
        exchanges::exchange_none,
        exchanges::github::exchange_github_oidc,
        exchanges::github::exchange_github_at,
        exchanges::domain::exchange_dns,
        exchanges::domain::exchange_http,
        exchanges::oidc::exchange_oidc,
        ops::health,
        ops::readiness,
        ops::version,
        crate::auth::metadata::get_resource_metadata,
    ),
    tags(
        (name = "servers", description = "Discover MCP servers (MCP Registry API v0.1)"),
        (name = "publish", description = "Publish to managed registries and manage the versions' lifecycle"),
        (name = "registries", description = "Registries and their sync status"),
        (name = "probes", description = "What the prober found at each remote MCP server"),
        (name = "auth", description = "Registry tokens for the official publisher CLI (mcp-publisher login)"),
        (name = "ops", description = "Probes and build information"),
    )
)]
struct ApiDoc;

/// The document, built once. The writes are declared per registry and copied to the root aliases (without
/// `registryName`); the reads are declared on the aggregated prefix and copied to the aliases and to the
/// per-registry prefix (with its `registryName` parameter).
pub fn openapi() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = ApiDoc::openapi();
        for alias in ROOT_WRITE_PREFIXES {
            copy_prefix(&mut document, PER_REGISTRY_PREFIX, alias, &alias_tag(alias), |operation| {
                if let Some(parameters) = &mut operation.parameters {
                    parameters.retain(|parameter| parameter.name != "registryName");
                }
                // An operation without a description gets only the alias note.
                let description = operation.description.take().unwrap_or_default();
                operation.description = Some(format!(
                    "{description}\n\nAt this alias the write goes to the publish registry: `publishRegistry`, \
                     or the only managed registry. Without one it is 404, and the detail says how to set one."
                ));
            });
        }
        // The publisher CLI's calls are declared at /v0, as it calls them, and copied to /v0.1.
        for declared in ["/v0/health", "/v0/auth"] {
            copy_prefix(&mut document, declared, &declared.replacen("/v0", "/v0.1", 1), "v0_1", |_| {});
        }
        let declared = AGGREGATED_PREFIXES[0];
        for alias in &AGGREGATED_PREFIXES[1..] {
            copy_prefix(&mut document, declared, alias, &alias_tag(alias), |_| {});
        }
        copy_prefix(&mut document, declared, PER_REGISTRY_PREFIX, "in_registry", |operation| {
            operation.parameters.get_or_insert_with(Vec::new).insert(0, registry_name_parameter());
        });
        add_common_responses(&mut document);
        document
    })
}

/// `v0_1` for `/v0.1`: the suffix that keeps the copies' operation ids unique.
fn alias_tag(prefix: &str) -> String {
    prefix.trim_start_matches('/').replace('.', "_")
}

/// Copies every operation at or under `from` to the same path under `to`, with `_{tag}` after its id and `adapt`
/// applied, merging into the operations declared there already.
fn copy_prefix(document: &mut Document, from: &str, to: &str, tag: &str, adapt: impl Fn(&mut Operation)) {
    let copies: Vec<(String, PathItem)> = document
        .paths
        .paths
        .iter()
        .filter(|(path, _)| *path == from || path.starts_with(&format!("{from}/")))
        .map(|(path, item)| {
            let mut copy = item.clone();
            for operation in operations(&mut copy) {
                operation.operation_id = operation.operation_id.take().map(|id| format!("{id}_{tag}"));
                adapt(operation);
            }
            (format!("{to}{}", &path[from.len()..]), copy)
        })
        .collect();
    for (path, copy) in copies {
        match document.paths.paths.get_mut(&path) {
            Some(declared) => declared.merge_operations(copy),
            None => {
                document.paths.paths.insert(path, copy);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete, &mut item.put].into_iter().flatten()
}

/// Adds the answers any operation can give where it does not declare them itself: 400 (a NUL byte or
/// invalid UTF-8 in the URL, a path parameter that cannot be read), 401 off the public paths (oauth mode),
/// 429 with `Retry-After` and the `RateLimit` fields off the routes never limited (`rateLimits`), and 503
/// with `Retry-After` (the database is unreachable, or the request ran past `server.requestTimeout`); and, for
/// operations with a body, 413 and 415.
fn add_common_responses(document: &mut Document) {
    let bad_request = problem_response("The URL or a parameter cannot be read (a NUL byte, invalid UTF-8)");
    let unauthorized = problem_response(
        "auth.mode is oauth and no valid bearer token came (`WWW-Authenticate` says how to get one)",
    );
    let too_large = problem_response("The body is over 1 MiB");
    let not_json = problem_response("The body is not application/json");
    for (path, item) in &mut document.paths.paths {
        let public = crate::auth::is_public(path, &[]);
        let limited = !crate::rate_limit::http::never_limited(path);
        for operation in operations(item) {
            let with_body = operation.request_body.is_some();
            let responses = &mut operation.responses.responses;
            responses.entry("400".into()).or_insert_with(|| bad_request.clone().into());
            if !public {
                responses.entry("401".into()).or_insert_with(|| unauthorized.clone().into());
            }
            let unavailable = responses.entry("503".into()).or_insert_with(|| {
                problem_response("The database is unreachable, or the request ran past server.requestTimeout")
                    .into()
            });
            if let RefOr::T(response) = unavailable {
                response.headers.insert("Retry-After".into(), retry_after());
            }
            if limited {
                let mut too_many = problem_response(
                    "Over the client's rate limit (rateLimits): the problem type is \
                     https://iana.org/assignments/http-problem-types#quota-exceeded, with violated-policies",
                );
                too_many.headers.insert("Retry-After".into(), retry_after());
                for (name, description) in [
                    ("RateLimit-Policy", "The class's budget: \"<class>\";q=<per minute>;w=60"),
                    ("RateLimit", "Where the client stands: \"<class>\";r=<remaining>;t=<seconds>"),
                ] {
                    let field = HeaderBuilder::new()
                        .schema(Object::with_type(Type::String))
                        .description(Some(description))
                        .build();
                    too_many.headers.insert(name.into(), field);
                }
                responses.entry("429".into()).or_insert_with(|| too_many.into());
            }
            if with_body {
                responses.entry("413".into()).or_insert_with(|| too_large.clone().into());
                responses.entry("415".into()).or_insert_with(|| not_json.clone().into());
            }
        }
    }
}

fn problem_response(description: &str) -> Response {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
    ResponseBuilder::new().description(description).content(PROBLEM_JSON, content).build()
}

fn retry_after() -> Header {
    HeaderBuilder::new()
        .schema(Object::with_type(Type::Integer))
        .description(Some("Seconds to wait before trying again"))
        .build()
}

fn registry_name_parameter() -> Parameter {
    ParameterBuilder::new()
        .name("registryName")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("One registry; an unknown name is 404"))
        .schema(Some(Object::with_type(Type::String)))
        .build()
}

async fn openapi_json() -> Json<&'static Document> {
    Json(openapi())
}
