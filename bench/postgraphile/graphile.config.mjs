// PostGraphile v5, the peer of bench/dashboard.py: the same database, the same bearer tokens.
//
// Started by the benchmark (never by `make test`) as
//   node_modules/.bin/node node_modules/.bin/postgraphile -C graphile.config.mjs
// with these variables:
//   PDO_BENCH_DATABASE_URL  the scratch database (the same one our server reads)
//   PDO_BENCH_ROLE          the NOLOGIN role the benchmark created there, with row-level security
//                           policies that show a guardian only their own rows (keyed on jwt.claims.sub)
//   PDO_BENCH_PUBLIC_KEY    path of the PEM public key of our dev signing key (ES256)
//   PDO_BENCH_PORT          the loopback port to listen on
//   PDO_BENCH_POOL          database connections in the pool
//
// Authorization does the same work as ours: every request's bearer token is verified (signature,
// issuer, audience, expiry), and every statement runs as PDO_BENCH_ROLE with the token's subject,
// so PostgreSQL's policies filter the rows. Without a valid guardian token the subject is empty
// and the policies show nothing; a bad token is refused.
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";

import jwt from "jsonwebtoken";
import pg from "pg";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const ROLE = env("PDO_BENCH_ROLE");
const PUBLIC_KEY = createPublicKey(readFileSync(env("PDO_BENCH_PUBLIC_KEY"), "utf8"));
const VERIFY = {
  algorithms: ["ES256"],
  issuer: "urn:pdo-graph:dev",
  audience: "pdo-graph",
  clockTolerance: 30,
};

function subjectOf(authorization) {
  if (typeof authorization !== "string") return "";
  const [scheme, token] = authorization.split(" ");
  if (scheme.toLowerCase() !== "bearer" || !token) return "";
  let claims;
  try {
    claims = jwt.verify(token, PUBLIC_KEY, VERIFY);
  } catch (err) {
    throw Object.assign(err, { statusCode: 401 }); // a bad token: the request is refused
  }
  return claims.pdo_role === "GUARDIAN" && typeof claims.sub === "string" ? claims.sub : "";
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      pool: new pg.Pool({
        connectionString: env("PDO_BENCH_DATABASE_URL"),
        max: Number(env("PDO_BENCH_POOL")),
      }),
      schemas: ["public"],
      pubsub: false,
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(env("PDO_BENCH_PORT")),
    graphiql: false,
    watch: false,
  },
  grafast: {
    explain: false,
    context(requestContext) {
      const subject = subjectOf(requestContext.node?.req?.headers?.authorization);
      return { pgSettings: { role: ROLE, "jwt.claims.sub": subject } };
    },
  },
};

export default preset;
