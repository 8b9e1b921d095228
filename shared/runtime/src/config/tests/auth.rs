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

#[test]
fn publisher_tokens_default_to_five_minutes_and_the_resource_url_as_issuer() {
    let quick = "registries: [{name: m, managed: {}}]\nauth: {mode: anonymous, publisherTokens: {methods: {none: {enabled: true}}}}\n";
    let tokens = Config::from_yaml(quick, no_env()).unwrap().auth.publisher_tokens.unwrap();
    assert_eq!(
        (tokens.ttl, tokens.issuer.as_str(), tokens.signing_key_file),
        (DEFAULT_TOKEN_TTL, "mcp-registry", None)
    );
    assert_eq!(tokens.methods.none.unwrap().namespaces, [ANONYMOUS_NAMESPACE]);

    let off = "registries: [{name: m, managed: {}}]\nauth: {mode: anonymous, publisherTokens: {methods: {none: {enabled: false}}}}\n";
    assert_eq!(
        Config::from_yaml(off, no_env()).unwrap().auth.publisher_tokens,
        None,
        "no method, no key: off"
    );

    let oauth = "registries: [{name: m, managed: {}}]\nauth: {oauth: {resourceUrl: 'https://registry.example.com', providers: [{name: idp, issuerUrl: 'https://idp.example.com', audience: a}]}, publisherTokens: {signingKeyFile: /keys/k, methods: {none: {enabled: true}}}}\n";
    let config = Config::from_yaml(oauth, no_env()).unwrap();
    assert_eq!(config.auth.publisher_tokens.as_ref().unwrap().issuer, "https://registry.example.com");
    let warning = config.warnings().iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(warning.len(), 1, "{warning:?}");
    assert!(
        warning[0].starts_with("auth.publisherTokens.methods.none: anyone may get a token"),
        "{warning:?}"
    );
}

#[test]
fn publisher_tokens_are_checked_by_name() {
    let yaml = "registries: [{name: m, managed: {}}]\nauth:\n  mode: anonymous\n  publisherTokens:\n    signingKeyFile: relative/key\n    ttl: 2h\n    blockedNamespaces: ['a*b']\n    methods: {none: {enabled: true, namespaces: []}}\n";
    assert_eq!(
        problems(yaml),
        [
            "auth.publisherTokens.methods.none.namespaces: must list at least one pattern",
            "auth.publisherTokens.signingKeyFile: must be an absolute path",
            "auth.publisherTokens.ttl: must be from 1s to 1h",
            "auth.publisherTokens.blockedNamespaces[0]: \"a*b\": use an exact name, a prefix ending in *, or *",
        ]
    );

    let postgres = "registries: [{name: m, managed: {}}]\ndatabase: {url: 'postgres://registry@db/registry'}\nauth: {mode: anonymous, publisherTokens: {methods: {none: {enabled: true}}}}\n";
    let found = problems(postgres);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("auth.publisherTokens.signingKeyFile: is required with PostgreSQL"),
        "{found:?}"
    );

    let anonymous_oidc = "registries: [{name: m, managed: {}}]\nauth: {mode: anonymous, publisherTokens: {methods: {oidc: {providers: [idp]}}}}\n";
    assert_eq!(
        problems(anonymous_oidc),
        [
            "auth.publisherTokens.methods.oidc: needs auth.mode: oauth, whose providers check the tokens it takes"
        ]
    );
    let unknown = "registries: [{name: m, managed: {}}]\nauth: {oauth: {resourceUrl: 'https://r.example.com', providers: [{name: idp, issuerUrl: 'https://idp.example.com', audience: a}]}, publisherTokens: {signingKeyFile: /k, methods: {oidc: {providers: [idp, sso]}}}}\n";
    assert_eq!(
        problems(unknown),
        ["auth.publisherTokens.methods.oidc.providers[1]: \"sso\" is not a provider of auth.oauth.providers"]
    );

    let shared_issuer = "registries: [{name: m, managed: {}}]\nauth: {oauth: {resourceUrl: 'https://r.example.com', providers: [{name: idp, issuerUrl: 'https://idp.example.com', audience: a}]}, publisherTokens: {signingKeyFile: /k, issuer: 'https://idp.example.com'}}\n";
    assert_eq!(
        problems(shared_issuer),
        [
            "auth.publisherTokens.issuer: \"https://idp.example.com\" is the issuer of provider idp: the registry's own tokens need one of their own"
        ]
    );
}

#[test]
fn the_calling_methods_take_their_defaults_and_bad_settings_are_named() {
    let yaml = "registries: [{name: m, managed: {}}]\nauth:\n  oauth: {resourceUrl: 'https://registry.example.com:8443/api', providers: [{name: idp, issuerUrl: 'https://idp.example.com', audience: a}]}\n  publisherTokens:\n    signingKeyFile: /keys/k\n    methods: {dns: {}, http: {}, githubOidc: {}, githubAt: {clientId: Iv1.abc}}\n";
    let config = Config::from_yaml(yaml, no_env()).unwrap();
    let methods = &config.auth.publisher_tokens.as_ref().unwrap().methods;
    assert_eq!(methods.dns, Some(DnsMethod { nameserver: None, timeout: Duration::from_secs(5) }));
    assert_eq!(methods.http.as_ref().unwrap().timeout, Duration::from_secs(10));
    let github = methods.github_oidc.as_ref().unwrap();
    assert_eq!(github.issuer, "https://token.actions.githubusercontent.com");
    assert_eq!(github.audiences, ["mcp-registry", "https://registry.example.com:8443"]);
    let github_at = methods.github_at.as_ref().unwrap();
    assert_eq!(
        (github_at.api_url.as_str(), github_at.client_id.as_deref()),
        ("https://api.github.com/", Some("Iv1.abc"))
    );

    let bad = "registries: [{name: m, managed: {}}]\nauth:\n  mode: anonymous\n  publisherTokens:\n    methods:\n      dns: {nameserver: 'ns1.example.com', timeout: 2m}\n      http: {caCertPath: relative.pem}\n      githubOidc: {issuer: 'http://actions.example.com', allowedOwners: ['a b'], allowedRepositories: [acme]}\n      githubAt: {apiUrl: 'ftp://github.example.com'}\n";
    assert_eq!(
        problems(bad),
        [
            "auth.publisherTokens.methods.githubOidc.issuer: \"http://actions.example.com\" must use https (http is allowed only on loopback, or with REGISTRY_INSECURE_HTTP_ISSUERS=true)",
            "auth.publisherTokens.methods.githubOidc.allowedOwners[0]: \"a b\" is not a GitHub user or organisation name",
            "auth.publisherTokens.methods.githubOidc.allowedRepositories[0]: \"acme\" is not owner/name",
            "auth.publisherTokens.methods.githubAt.apiUrl: \"ftp://github.example.com\" is not an absolute https or http URL",
            "auth.publisherTokens.methods.dns.nameserver: \"ns1.example.com\" is not an address: write ip:port, e.g. 10.0.0.2:53",
            "auth.publisherTokens.methods.dns.timeout: must be from 100ms to 1m",
            "auth.publisherTokens.methods.http.caCertPath: must be an absolute path",
        ]
    );
    let nameserver = "registries: [{name: m, managed: {}}]\nauth: {mode: anonymous, publisherTokens: {methods: {dns: {nameserver: '10.0.0.2'}}}}\n";
    let config = Config::from_yaml(nameserver, no_env()).unwrap();
    let dns = config.auth.publisher_tokens.unwrap().methods.dns.unwrap();
    assert_eq!(dns.nameserver, Some("10.0.0.2:53".parse().unwrap()), "port 53 unless given");
}

const SIGN_IN_BASE: &str = "registries: [{name: m, managed: {}}]\nauth:\n  oauth:\n    resourceUrl: https://registry.example.com\n    providers:\n      - {name: idp, issuerUrl: 'https://idp.example.com', audience: api, clientId: catalogue}\n      - {name: machines, issuerUrl: 'https://ci.example.com', audience: api}\n";

#[test]
fn sign_in_takes_a_provider_with_a_client_id_and_its_callbacks_and_asks_for_openid() {
    let config = Config::from_yaml(
        &format!("{SIGN_IN_BASE}ui:\n  sessionTtl: 2h\n  signIn: {{provider: idp, redirectUrls: ['https://registry.example.com/ui/auth/callback', 'http://localhost:8080/ui/auth/callback'], scopes: [profile, 'mcp-registry:write']}}\n"),
        no_env(),
    )
    .unwrap();
    assert_eq!(config.ui.session_ttl, Duration::from_secs(7200));
    let sign_in = config.ui.sign_in.unwrap();
    assert_eq!(sign_in.provider, "idp");
    assert_eq!(sign_in.redirect_urls.len(), 2);
    assert_eq!(sign_in.scopes, ["openid", "profile", "mcp-registry:write"]);
    let defaults = Config::from_yaml(SIGN_IN_BASE, no_env()).unwrap().ui;
    assert_eq!((defaults.session_ttl, defaults.sign_in), (Duration::from_secs(8 * 3600), None));
}

#[test]
fn each_bad_sign_in_key_is_named() {
    let found = problems(&format!(
        "{SIGN_IN_BASE}ui:\n  sessionTtl: forever\n  signIn: {{provider: machines, redirectUrls: ['http://registry.example.com/ui/auth/callback', 'https://registry.example.com/login', 'nope'], scopes: ['two words']}}\n"
    ));
    assert_eq!(
        found,
        [
            "ui.sessionTtl: \"forever\" is not a duration (write e.g. 200ms, 30s, 5m, 1h)",
            "ui.signIn.provider: provider machines has no clientId: sign-in is a client of the provider and needs one",
            "ui.signIn.redirectUrls[0]: \"http://registry.example.com/ui/auth/callback\" must use https (http only on loopback: session cookies are Secure)",
            "ui.signIn.redirectUrls[1]: \"https://registry.example.com/login\" must end in /ui/auth/callback, with no query or fragment",
            "ui.signIn.redirectUrls[2]: \"nope\" is not an absolute https or http URL",
            "ui.signIn.scopes[0]: \"two words\" is not a scope token",
        ]
    );
    let unknown = problems(&format!("{SIGN_IN_BASE}ui: {{signIn: {{provider: nobody}}}}\n"));
    assert_eq!(
        unknown,
        [
            "ui.signIn.provider: \"nobody\" is not among auth.oauth.providers (they are: idp, machines)",
            "ui.signIn.redirectUrls: is required: the callback on each public host, e.g. https://registry.example.com/ui/auth/callback",
        ]
    );
    let anonymous = problems(
        "registries: [{name: m, managed: {}}]\nauth: {mode: anonymous}\nui: {signIn: {provider: idp, redirectUrls: ['https://r.example.com/ui/auth/callback']}}\n",
    );
    assert_eq!(
        anonymous,
        ["ui.signIn: needs auth.mode: oauth (in anonymous mode there is nobody to sign in)"]
    );
}
