// A real OpenID Provider (panva/oidc-provider 8.x) for the test suite.
//
//   node server.mjs <config.json> [port]
//
// Listens on 127.0.0.1 (port from argv, else $PORT, else config.port, else a free one) and prints
// one line `READY <issuer>` to stdout once it accepts requests. Everything else goes to stderr.
// The issuer is http://127.0.0.1:<port>. SIGTERM / SIGINT stop it, and so does the end of stdin
// when OIDC_EXIT_ON_STDIN_EOF=1 (the fixture sets it, so a killed test run leaves no server behind).
//
// Config (JSON), all written by tests/oidc_fixture.py:
// {
//   "jwks": {"keys": [<private JWKs: RSA for RS256, EC P-256 for ES256; first of a kind signs>]},
//   "resources": [{"url": "https://pdo-graph.test/graphql", "scope": "api", "alg": "RS256", "ttl": 600}],
//   "clients": [{
//     "client_id": "guardian-alice",
//     "client_secret": "...",                       // client_secret_basic clients
//     "token_endpoint_auth_method": "client_secret_basic" | "private_key_jwt",
//     "jwks": {"keys": [<public JWK>]},             // private_key_jwt clients
//     "scope": "api",                               // optional allow-list of scopes
//     // test-only fields (removed before the client is registered with oidc-provider):
//     "claims": {"pdo_role": "GUARDIAN"},           // copied into every access token of the client
//     "sub": "alice",                               // overrides the JWT sub (default: the client_id)
//     "default_resource": "https://...",            // used when the request has no `resource`
//     "access_token_ttl": 2,                        // seconds; else the resource's ttl, else 600
//     "access_token_alg": "ES256"                   // else the resource's alg, else RS256
//   }]
// }
//
// Key rotation: oidc-provider keeps its signing keys for the life of the process, so the fixture
// rotates by restarting this server on the same port with a new `jwks` (same issuer).

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const TEST_FIELDS = ['claims', 'sub', 'default_resource', 'access_token_ttl', 'access_token_alg'];
const HOST = '127.0.0.1';

const [configPath, portArg] = process.argv.slice(2);
if (!configPath) {
  process.stderr.write('usage: node server.mjs <config.json> [port]\n');
  process.exit(2);
}

const config = JSON.parse(readFileSync(configPath, 'utf8'));
const port = Number(portArg ?? process.env.PORT ?? config.port ?? 0);

const extras = new Map(); // client_id -> test-only fields
const clients = (config.clients ?? []).map((entry) => {
  const metadata = {
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  };
  const extra = {};
  for (const [name, value] of Object.entries(entry)) {
    if (TEST_FIELDS.includes(name)) extra[name] = value;
    else metadata[name] = value;
  }
  extras.set(metadata.client_id, extra);
  return metadata;
});

const resources = new Map((config.resources ?? []).map((r) => [r.url, r]));

function configuration() {
  return {
    clients,
    jwks: config.jwks,
    cookies: { keys: [randomBytes(32).toString('hex')] },
    clientBasedCORS: () => true,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource(ctx, client) {
          return extras.get(client?.clientId)?.default_resource;
        },
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resourceIndicator, client) {
          const resource = resources.get(resourceIndicator);
          if (!resource) {
            throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          }
          const extra = extras.get(client?.clientId) ?? {};
          return {
            scope: resource.scope ?? 'api',
            audience: resource.url,
            accessTokenTTL: extra.access_token_ttl ?? resource.ttl ?? 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: extra.access_token_alg ?? resource.alg ?? 'RS256' } },
          };
        },
      },
    },
    ttl: {
      ClientCredentials(ctx, token, client) {
        const extra = extras.get(client?.clientId) ?? {};
        return extra.access_token_ttl ?? token.resourceServer?.accessTokenTTL ?? 600;
      },
    },
    async extraTokenClaims(ctx, token) {
      return { ...(extras.get(token.clientId)?.claims ?? {}) };
    },
    formats: {
      customizers: {
        async jwt(ctx, token, jwt) {
          const sub = extras.get(token.clientId)?.sub;
          if (sub) jwt.payload.sub = sub;
        },
      },
    },
  };
}

const server = createServer();
server.on('error', (err) => {
  process.stderr.write(`oidc test server: ${err.stack ?? err}\n`);
  process.exit(1);
});
server.listen(port, HOST, () => {
  const issuer = `http://${HOST}:${server.address().port}`;
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack ?? err}\n`));
  provider.on('grant.error', (ctx, err) => process.stderr.write(`grant.error: ${err.message} ${err.error_description ?? ''}\n`));
  server.on('request', provider.callback());
  process.stdout.write(`READY ${issuer}\n`);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.env.OIDC_EXIT_ON_STDIN_EOF === '1') {
  // The fixture holds our stdin open; if its process dies without stopping us, we stop too.
  process.stdin.on('end', stop).on('close', stop).resume();
}
