#!/usr/bin/env node
// oidc_provider.js - a real OpenID Connect provider for twokey's
// integration tests: oidc-provider (authorization code flow, PKCE,
// discovery, JWKS, prompt=login / max_age) with in-memory accounts and a
// minimal login page a script drives with plain HTTP form posts.
//
// Usage: node oidc_provider.js CONFIG.json
//   CONFIG.json: {"port": N, "issuer": "http://127.0.0.1:N",
//     "client_id": "...", "client_secret": "..." (omit: public client,
//     PKCE only), "redirect_uri": "...", "alg": "RS256" | "ES256",
//     "kid": "k1" (the signing key's id; default k1),
//     "accounts": {"LOGIN": {"password": "...", "claims": {...}}}}
//   Listens on 127.0.0.1:port; prints "listening PORT" on stdout once it
//   accepts connections. ID tokens are signed with a key made at start
//   (kid as configured), RS256 unless alg says ES256. ID tokens carry
//   the account's claims (preferred_username ...) and always auth_time.
//
// Login interaction (no JavaScript, no consent screen):
//   GET  /interaction/:uid        a form with fields login, password
//                                 (and the prompt's name in
//                                 <meta name="prompt" content="login">)
//   POST /interaction/:uid/login  login=&password=[&auth_age=SECONDS]
//                                 auth_age (tests only) backdates the
//                                 authentication, to test auth_time checks.
//                                 A wrong password answers 401.
//   GET  /interaction/:uid/abort  ends the flow with error=access_denied.
// Test side-door: GET /_test/requests lists the authorization requests'
// query parameters seen (to assert PKCE, prompt and max_age).
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const querystring = require("node:querystring");

function die(msg) {
    process.stderr.write("oidc_provider: " + msg + "\n");
    process.exit(2);
}

if (process.argv.length !== 3)
    die("usage: node oidc_provider.js CONFIG.json");
let cfg;
try {
    cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
} catch (e) {
    die("cannot read " + process.argv[2] + ": " + e.message);
}
const port = Number(cfg.port);
if (!Number.isInteger(port) || port < 1 || port > 65535)
    die("port must be a TCP port number");
for (const k of ["issuer", "client_id", "redirect_uri"])
    if (typeof cfg[k] !== "string" || cfg[k] === "")
        die(k + " is missing from the configuration");
const alg = cfg.alg ?? "RS256";
if (alg !== "RS256" && alg !== "ES256")
    die("alg must be RS256 or ES256");
const accounts = cfg.accounts ?? {};
const kid = cfg.kid ?? "k1";

function signingKey() {
    const {privateKey} = alg === "ES256"
        ? crypto.generateKeyPairSync("ec", {namedCurve: "P-256"})
        : crypto.generateKeyPairSync("rsa", {modulusLength: 2048});
    return {...privateKey.export({format: "jwk"}), kid, use: "sig", alg};
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) =>
    ({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"})[c]);

function readBody(req) {
    return new Promise((resolve, reject) => {
        let data = "";
        req.setEncoding("utf8");
        req.on("data", (chunk) => {
            data += chunk;
            if (data.length > 65536) reject(new Error("body too large"));
        });
        req.on("end", () => resolve(querystring.parse(data)));
        req.on("error", reject);
    });
}

async function main() {
    const {default: Provider} = await import("oidc-provider");
    const client = {
        client_id: cfg.client_id,
        redirect_uris: [cfg.redirect_uri],
        response_types: ["code"],
        grant_types: ["authorization_code"],
        id_token_signed_response_alg: alg,
        require_auth_time: true,
    };
    if (typeof cfg.client_secret === "string" && cfg.client_secret !== "") {
        client.client_secret = cfg.client_secret;
        client.token_endpoint_auth_method = "client_secret_basic";
    } else {
        client.token_endpoint_auth_method = "none";
    }
    const provider = new Provider(cfg.issuer, {
        clients: [client],
        jwks: {keys: [signingKey()]},
        cookies: {keys: [crypto.randomBytes(32).toString("hex")]},
        claims: {
            openid: ["sub"],
            profile: ["preferred_username", "name", "email"],
            email: ["email"],
        },
        conformIdTokenClaims: false,
        features: {devInteractions: {enabled: false}},
        pkce: {required: () => true},
        interactions: {url: (_ctx, interaction) => "/interaction/" + interaction.uid},
        findAccount: async (_ctx, id) => {
            const a = accounts[id];
            if (a === undefined) return undefined;
            return {
                accountId: id,
                claims: async () => ({sub: id, ...(a.claims ?? {})}),
            };
        },
        renderError: async (ctx, out) => {
            ctx.type = "text/plain; charset=utf-8";
            ctx.body = "error: " + out.error + ": " + (out.error_description ?? "");
        },
    });
    const seen = [];
    const callback = provider.callback();

    async function interaction(req, res, uid, action) {
        let details;
        try {
            details = await provider.interactionDetails(req, res);
        } catch (e) {
            res.writeHead(400, {"Content-Type": "text/plain"});
            res.end("no such interaction: " + e.message);
            return;
        }
        if (details.uid !== uid) {
            res.writeHead(400, {"Content-Type": "text/plain"});
            res.end("interaction mismatch");
            return;
        }
        if (action === "" && req.method === "GET") {
            res.writeHead(200, {"Content-Type": "text/html; charset=utf-8"});
            res.end("<!doctype html><title>Sign in</title>" +
                "<meta name=\"prompt\" content=\"" + escapeHtml(details.prompt.name) + "\">" +
                "<form method=\"post\" action=\"/interaction/" + escapeHtml(uid) + "/login\">" +
                "<input name=\"login\"><input name=\"password\" type=\"password\">" +
                "<button>Sign in</button></form>");
            return;
        }
        if (action === "abort") {
            await provider.interactionFinished(req, res, {
                error: "access_denied", error_description: "the user cancelled",
            }, {mergeWithLastSubmission: false});
            return;
        }
        if (action === "login" && req.method === "POST") {
            const body = await readBody(req);
            const a = accounts[body.login];
            if (a === undefined || typeof body.password !== "string" ||
                body.password !== a.password) {
                res.writeHead(401, {"Content-Type": "text/plain"});
                res.end("wrong login or password");
                return;
            }
            const age = Number.parseInt(body.auth_age ?? "0", 10) || 0;
            const grant = new provider.Grant({
                accountId: body.login, clientId: details.params.client_id,
            });
            grant.addOIDCScope(details.params.scope);
            const grantId = await grant.save();
            await provider.interactionFinished(req, res, {
                login: {accountId: body.login, ts: Math.floor(Date.now() / 1000) - age},
                consent: {grantId},
            }, {mergeWithLastSubmission: false});
            return;
        }
        res.writeHead(404, {"Content-Type": "text/plain"});
        res.end("not found");
    }

    const server = http.createServer((req, res) => {
        const url = new URL(req.url, "http://127.0.0.1");
        const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/.exec(url.pathname);
        if (m) {
            interaction(req, res, m[1], m[2] ?? "").catch((e) => {
                if (!res.headersSent) {
                    res.writeHead(500, {"Content-Type": "text/plain"});
                    res.end("interaction failed: " + e.message);
                }
            });
            return;
        }
        if (url.pathname === "/_test/requests") {
            res.writeHead(200, {"Content-Type": "application/json"});
            res.end(JSON.stringify(seen));
            return;
        }
        if (url.pathname === "/auth")
            seen.push(Object.fromEntries(url.searchParams));
        callback(req, res);
    });
    server.listen(port, "127.0.0.1", () => {
        process.stdout.write("listening " + port + "\n");
    });
    const stop = () => server.close(() => process.exit(0));
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

main().catch((e) => die(e.stack ?? String(e)));
