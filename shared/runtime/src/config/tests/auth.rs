//! `auth`: providers, issuers and the authentication page's examples.

use super::*;

#[test]
fn oauth_mode_needs_providers_with_https_issuers() {
    let found = problems(
        "registries: [{name: m, managed: {}}]\nauth:\n  mode: oauth\n  oauth:\n    providers:\n      - {name: idp, issuerUrl: 'http://idp.example.com', audience: api}\n",
    );
    assert!(found.iter().any(|p| {
        p.starts_with("auth.oauth.providers[0].issuerUrl: \"http://idp.example.com\" must use https")
    }));

    let found = problems("registries: [{name: m, managed: {}}]\n");
    assert!(
        found.iter().any(|p| p.starts_with("auth.oauth.providers: oauth mode needs at least one provider"))
    );

    let local = "registries: [{name: m, managed: {}}]\nauth: {oauth: {resourceUrl: 'http://127.0.0.1:8080', providers: [{name: dev, issuerUrl: 'http://127.0.0.1:9000', audience: a}]}}\n";
    let config = Config::from_yaml(local, no_env()).unwrap();
    assert_eq!(config.auth.mode, AuthMode::Oauth);
    let provider = &config.auth.oauth.as_ref().unwrap().providers[0];
    assert_eq!(provider.algorithms, SigningAlgorithm::ALL, "asymmetric algorithms only, by default");
    assert_eq!(
        (provider.leeway, provider.require_at_jwt, provider.advertise),
        (Duration::from_secs(30), false, true)
    );
    assert!(!config.auth.public_reads, "reads need a token in oauth mode unless publicReads");
}

#[test]
fn oauth_mode_needs_a_resource_url_distinct_issuers_and_only_known_algorithms() {
    let yaml = "registries: [{name: m, managed: {}}]\nauth:\n  oauth:\n    providers:\n      - {name: a, issuerUrl: 'https://idp.example.com', audience: x, algorithms: [HS256], leeway: 10m}\n      - {name: b, issuerUrl: 'https://idp.example.com', audience: y, introspectionUrl: 'https://idp.example.com/introspect', clientId: registry}\n";

    let found = problems(yaml);

    let expected = [
        "auth.oauth.providers[0].algorithms[0]: unknown variant `HS256`",
        "auth.oauth.providers[0].leeway: must be at most 5m",
        "auth.oauth.providers[1]: clientId and clientSecretFile go together",
        "auth.oauth.providers[1].issuerUrl: is the issuer of an earlier provider",
        "auth.oauth.resourceUrl: is required in oauth mode",
    ];
    for line in expected {
        assert!(found.iter().any(|p| p.starts_with(line)), "missing {line:?} in:\n{}", found.join("\n"));
    }
    assert_eq!(found.len(), expected.len(), "{}", found.join("\n"));
}

#[test]
fn plain_http_issuers_off_loopback_need_the_environment_only_switch() {
    let yaml = "registries: [{name: m, managed: {}}]\nauth: {oauth: {resourceUrl: 'https://registry.example.com', providers: [{name: idp, issuerUrl: 'http://idp.internal', audience: a}]}}\n";

    let refused = Config::from_yaml(yaml, no_env()).unwrap_err();
    let allowed = Config::from_yaml(yaml, env(&[(INSECURE_ISSUERS, "true")]));
    let as_key =
        Config::from_yaml(&format!("{yaml}insecureHttpIssuers: true\n"), env(&[(INSECURE_ISSUERS, "true")]));

    assert!(refused.to_string().contains("REGISTRY_INSECURE_HTTP_ISSUERS=true"), "{refused}");
    assert!(allowed.is_ok(), "{:?}", allowed.err());
    assert!(as_key.is_err(), "the switch is never a YAML key");
}

#[test]
fn the_authentication_pages_examples_load() {
    let readme = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/authentication.md"),
    )
    .unwrap();
    let section = &readme[readme.find("## Authentication").unwrap()..readme.find("## Audit trail").unwrap()];
    let examples: Vec<&str> =
        section.split("```yaml\n").skip(1).map(|block| &block[..block.find("```").unwrap()]).collect();

    assert_eq!(examples.len(), 3);
    for example in examples {
        let yaml = format!("registries: [{{name: internal, managed: {{}}}}]\n{example}");
        Config::from_yaml(&yaml, no_env()).unwrap_or_else(|e| panic!("{example}\n{e}"));
    }
}
