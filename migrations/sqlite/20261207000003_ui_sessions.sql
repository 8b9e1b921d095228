-- The web catalogue's sign-in (issue 30). Nothing here is a secret a reader could use: the browser holds the
-- session id and the sign-in state, and these tables only their SHA-256 digests.

-- A sign-in under way: what the callback needs to finish it (the PKCE verifier and the nonce), kept until the
-- provider sends the browser back, and no longer than ten minutes.
create table ui_sign_in (
    state_hash text primary key,
    pkce_verifier text not null,
    nonce text not null,
    redirect_url text not null,
    return_to text not null,
    expires_at text not null
);
create index ui_sign_in_expires on ui_sign_in (expires_at);

-- A signed-in browser: the principal its access token proved (provider, subject and claims, as JSON), the
-- token that its forms carry against cross-site requests, and when it ends (with its access token, at most
-- ui.sessionTtl after sign-in).
create table ui_session (
    id_hash text primary key,
    principal text not null,
    csrf_token text not null,
    created_at text not null,
    expires_at text not null
);
create index ui_session_expires on ui_session (expires_at);
