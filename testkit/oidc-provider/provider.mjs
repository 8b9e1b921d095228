// A local OpenID provider (npm oidc-provider) for trying and testing oauth mode on one machine:
// client_credentials with RFC 8707 resource indicators, RFC 9068 JWT access tokens (typ at+jwt) for most
// clients, opaque tokens for one (RFC 7662 introspection), and a group claim for role rules. People sign in
// to the web catalogue through the authorization code flow at a plain login form: any user name signs in.
//
// Environment: PORT (default 9090), RESOURCE (the registry's resourceUrl, default http://localhost:8080),
// KEY_FILE (a PKCS#8 RSA private key in PEM), OIDC_PROVIDER_DIR (where scripts/oidc-provider.sh installed
// the package). The clients and their secrets below are for loopback use only.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const port = Number(process.env.PORT ?? 9090);
const resource = process.env.RESOURCE ?? 'http://localhost:8080';
const moduleUrl = pathToFileURL(join(process.env.OIDC_PROVIDER_DIR, 'node_modules/oidc-provider/lib/index.js'));
const { default: Provider } = await import(moduleUrl.href);

const key = createPrivateKey(readFileSync(process.env.KEY_FILE)).export({ format: 'jwk' });
const client = (id, secret) => ({
  client_id: id,
  client_secret: secret,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
});
// The web catalogue's sign-in: native clients, so that a loopback callback on any port is accepted (RFC 8252
// §7.3), as tests pick free ports. registry-ui is public (PKCE alone); registry, the introspection client,
// also signs in with its secret.
const signIn = {
  application_type: 'native',
  grant_types: ['authorization_code'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/ui/auth/callback', 'http://localhost/ui/auth/callback'],
};
// Who gets which groups (by client, or by the person signed in): publishers may publish and operators may
// sync (auth.authz in examples/oauth-local.yaml); readers and anyone else neither.
const groups = {
  publisher: ['mcp-publishers'],
  'opaque-publisher': ['mcp-publishers'],
  reader: [],
  registry: [],
  alice: ['mcp-publishers', 'registry-operators'],
  bob: [],
};
const readBody = async (req) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
};
const escape = (text) => text.replace(/[&<>"']/gu, (c) => `&#${c.charCodeAt(0)};`);
const SCOPES = ['mcp-registry:read', 'mcp-registry:write'];

const provider = new Provider(`http://127.0.0.1:${port}`, {
  jwks: { keys: [{ ...key, kid: 'local-1', alg: 'RS256', use: 'sig' }] },
  clients: [
    client('publisher', 'publisher-secret'),
    client('opaque-publisher', 'opaque-secret'),
    client('reader', 'reader-secret'),
    // The registry itself, for introspection and sign-in.
    { ...client('registry', 'registry-secret'), ...signIn, grant_types: ['client_credentials', 'authorization_code'] },
    { client_id: 'registry-ui', token_endpoint_auth_method: 'none', ...signIn },
  ],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, preferred_username: id, name: `${id[0].toUpperCase()}${id.slice(1)} Example` }),
  }),
  // The login form below; consent is given with the login (every client here is the registry's own).
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  scopes: SCOPES,
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, audience, requester) => ({
        scope: SCOPES.join(' '),
        audience,
        accessTokenTTL: 300,
        accessTokenFormat: requester.clientId === 'opaque-publisher' ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => ({ groups: groups[token.accountId ?? token.clientId] ?? [] }),
});

provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)$/u.exec(ctx.path);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in: local OpenID provider</title></head>
<body><main><h1>Local OpenID provider</h1><p>Signing in to ${escape(details.params.client_id)}. Any user name signs in;
alice may publish and sync, bob may not.</p><form method="post" action="/interaction/${details.uid}">
<label for="login">User name</label> <input id="login" name="login" autocomplete="username" required>
<button type="submit" id="sign-in">Sign in</button></form></main></body></html>`;
    return undefined;
  }
  const login = (await readBody(ctx.req)).get('login')?.trim();
  if (!login) {
    ctx.status = 400;
    ctx.body = 'a user name is needed';
    return undefined;
  }
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  for (const indicated of [details.params.resource ?? resource].flat()) grant.addResourceScope(indicated, SCOPES.join(' '));
  const result = { login: { accountId: login }, consent: { grantId: await grant.save() } };
  ctx.status = 303;
  ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
  return undefined;
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`OpenID provider on http://127.0.0.1:${port} for resource ${resource}`);
});
