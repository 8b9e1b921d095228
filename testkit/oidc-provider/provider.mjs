// A local OpenID provider (npm oidc-provider) for trying and testing oauth mode on one machine:
// client_credentials with RFC 8707 resource indicators, RFC 9068 JWT access tokens (typ at+jwt) for most
// clients, opaque tokens for one (RFC 7662 introspection), and a group claim for role rules.
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
// Who gets which groups: publishers may publish (auth.authz in examples/oauth-local.yaml), readers may not.
const groups = {
  publisher: ['mcp-publishers'],
  'opaque-publisher': ['mcp-publishers'],
  reader: [],
  registry: [],
};
const SCOPES = ['mcp-registry:read', 'mcp-registry:write'];

const provider = new Provider(`http://127.0.0.1:${port}`, {
  jwks: { keys: [{ ...key, kid: 'local-1', alg: 'RS256', use: 'sig' }] },
  clients: [
    client('publisher', 'publisher-secret'),
    client('opaque-publisher', 'opaque-secret'),
    client('reader', 'reader-secret'),
    // The registry itself, for introspection.
    client('registry', 'registry-secret'),
  ],
  scopes: SCOPES,
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
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
  extraTokenClaims: (ctx, token) => ({ groups: groups[token.clientId] ?? [] }),
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`OpenID provider on http://127.0.0.1:${port} for resource ${resource}`);
});
