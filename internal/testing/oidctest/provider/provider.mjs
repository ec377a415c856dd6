// A real OpenID Provider (oidc-provider, a certified implementation) for
// the OIDC-mode tests, and for trying the mode by hand (README, "OpenID
// Connect mode"). Started by internal/testing/oidctest on a free loopback port;
// it prints one JSON line {"issuer": ...} when it listens.
//
// Environment: PORT (0: any free one), REDIRECT_URI and
// POST_LOGOUT_REDIRECT_URI (each a space-separated list), CLIENT_ID,
// CLIENT_SECRET, ACCESS_TTL (seconds), JWT_CLAIMS_BYTES (when set: access
// tokens are JWTs for the resource urn:fwr:test-api, carrying a "groups"
// claim of about that many bytes, as an Entra ID or Keycloak token with
// many groups or roles does).
//
// GET /demo-api/departments is a resource for the README's example: 200
// for a live access token of this provider, 401 otherwise.
//
// One confidential client (client_secret_basic), refresh tokens for it
// without prompt=consent, rotation on every use (a reused refresh token
// revokes the grant), PKCE required, the
// development login and consent pages (any login and password), token
// introspection and revocation. GET /_test/stats counts what the token
// endpoint did, from the provider's own events.
import http from "node:http";
import Provider from "oidc-provider";

const env = (name, fallback) => process.env[name] ?? fallback;

const counts = { refresh: 0, refreshError: 0, code: 0, codeError: 0 };
const jwtClaimsBytes = Number(env("JWT_CLAIMS_BYTES", "0"));
const resource = "urn:fwr:test-api";
// groups is a "groups" claim of about n bytes.
const groups = (n) => Array.from({ length: Math.ceil(n / 40) }, (_, i) => `fwr-test-group-${String(i).padStart(4, "0")}-members-all`);

const server = http.createServer();
const departments = ["Engineering", "Design", "Sales", "Support", "Finance"].map((name, i) => ({ id: i + 1, name }));

server.listen(Number(env("PORT", "0")), "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: env("CLIENT_ID", "fwr"),
      client_secret: env("CLIENT_SECRET", "fwr-secret"),
      redirect_uris: env("REDIRECT_URI", "http://127.0.0.1:8080/auth/callback").split(" "),
      post_logout_redirect_uris: env("POST_LOGOUT_REDIRECT_URI", "http://127.0.0.1:8080/").split(" "),
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    }],
    features: {
      devInteractions: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: jwtClaimsBytes > 0 ? {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "openid offline_access profile email", audience: resource,
          accessTokenFormat: "jwt", accessTokenTTL: Number(env("ACCESS_TTL", "60")),
        }),
      } : { enabled: false },
    },
    extraTokenClaims: async (ctx, token) => (jwtClaimsBytes > 0 && token.kind === "AccessToken" ? { groups: groups(jwtClaimsBytes) } : undefined),
    // Every account has a name and an address: the BFF keeps them (-session-claims).
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, name: `Test User ${sub}`, email: `${sub}@example.test`, email_verified: true }),
    }),
    claims: { openid: ["sub"], profile: ["name"], email: ["email", "email_verified"] },
    // The ID token carries the claims of the scopes asked for, as most
    // providers' do (OpenID Connect Core would keep them for userinfo).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // oidc-provider keeps offline_access only with prompt=consent (OpenID
    // Connect Core §11); like Keycloak, this provider instead issues refresh
    // tokens to every client allowed the refresh_token grant.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: Number(env("ACCESS_TTL", "60")),
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 86400,
      Grant: 86400,
      Session: 86400,
      Interaction: 600,
    },
    cookies: { keys: ["fwr-test-cookie-key"] },
  });
  provider.on("grant.success", (ctx) => {
    if (ctx.oidc.params.grant_type === "refresh_token") counts.refresh++;
    if (ctx.oidc.params.grant_type === "authorization_code") counts.code++;
  });
  provider.on("grant.error", (ctx) => {
    if (ctx.oidc.params?.grant_type === "refresh_token") counts.refreshError++;
    if (ctx.oidc.params?.grant_type === "authorization_code") counts.codeError++;
  });
  const callback = provider.callback();
  server.on("request", async (req, res) => {
    if (req.url === "/_test/stats") {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify(counts));
      return;
    }
    if (req.url === "/demo-api/departments") {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      const live = token && (await provider.AccessToken.find(token));
      res.statusCode = live ? 200 : 401;
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify(live ? departments : { error: "invalid_token" }));
      return;
    }
    callback(req, res);
  });
  console.log(JSON.stringify({ issuer }));
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
