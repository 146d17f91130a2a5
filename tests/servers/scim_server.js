#!/usr/bin/env node
// scim_server.js - a real SCIM 2.0 server for twokey's integration tests:
// scimmy (RFC 7643 schemas, RFC 7644 filters and PATCH) behind
// scimmy-routers on express, with in-memory Users and Groups.
//
// Usage: SCIM_TOKEN=secret node scim_server.js PORT [SEED.json]
//   Listens on 127.0.0.1:PORT, serves SCIM under /scim/v2, and requires
//   "Authorization: Bearer $SCIM_TOKEN" there. SEED.json is
//   {"users":[{userName, active, name, ...}], "groups":[{displayName,
//   members:["userName", ...]}]}; ids are made here. Prints
//   "listening PORT" on stdout once it accepts connections.
//
// Test side-door (no auth; loopback only, tests only):
//   GET  /_test/users/:userName  the stored user, password and active included
//   GET  /_test/groups/:name     the stored group (members as ids)
//   GET  /_test/requests         [{method, url, filter, body}] seen under /scim/v2
//   POST /_test/fault            {status: 500|400|..., detail, scimType,
//                                 hang: true, times: N, method: "PATCH",
//                                 skip: N}
//                                 makes SCIM requests (of that method only,
//                                 when given; after letting skip of them
//                                 through) fail or never answer; {}
//                                 clears it.
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const express = require("express");
const SCIMMY = require("scimmy").default;
const {SCIMMYRouters} = require("scimmy-routers");

const port = Number.parseInt(process.argv[2] ?? "", 10);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write("usage: SCIM_TOKEN=... node scim_server.js PORT [SEED.json]\n");
    process.exit(2);
}
const token = process.env.SCIM_TOKEN ?? "";
if (token.length === 0) {
    process.stderr.write("scim_server: set SCIM_TOKEN to the bearer token clients must send\n");
    process.exit(2);
}

const users = new Map();   // id -> stored user (password kept, as a real IdP would hash it)
const groups = new Map();  // id -> stored group {id, displayName, members: [{value, display}]}
const requests = [];       // recent SCIM requests, for assertions
let fault = null;          // {status, detail, scimType, hang, times}

const newId = () => crypto.randomUUID();
const now = () => new Date().toISOString();

function seed(path) {
    const data = JSON.parse(fs.readFileSync(path, "utf8"));
    const byName = new Map();
    for (const u of data.users ?? []) {
        const id = newId();
        const user = {active: true, ...u, id, meta: {created: now(), lastModified: now()}};
        users.set(id, user);
        byName.set(u.userName, id);
    }
    for (const g of data.groups ?? []) {
        const id = newId();
        const members = (g.members ?? []).map(n => {
            if (!byName.has(n)) throw new Error(`seed group ${g.displayName}: no user ${n}`);
            return {value: byName.get(n), display: n};
        });
        groups.set(id, {displayName: g.displayName, members, id, meta: {created: now(), lastModified: now()}});
    }
}

// A copy without the password: what egress hands to scimmy (which would
// drop it anyway, returned "never").
function publicUser(u) {
    const {password, ...rest} = u;
    void password;
    return structuredClone(rest);
}

function listOrOne(store, resource, mapper) {
    if (resource.id) {
        const v = store.get(resource.id);
        if (v === undefined)
            throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
        return mapper(v);
    }
    const all = [...store.values()].map(mapper);
    return resource.filter ? resource.filter.match(all) : all;
}

SCIMMY.Resources.declare(SCIMMY.Resources.User, {
    egress: (resource) => listOrOne(users, resource, publicUser),
    ingress: (resource, instance) => {
        // scimmy's JSON form leaves out the password (returned "never");
        // its getter still has it
        const data = JSON.parse(JSON.stringify(instance));
        if (instance.password !== undefined)
            data.password = instance.password;
        if (resource.id) {
            const old = users.get(resource.id);
            if (old === undefined)
                throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
            // a PATCH writes back the whole resource as read (without the
            // password); keep the stored password unless a new one came
            const next = {...data, id: old.id, meta: {...old.meta, lastModified: now()}};
            if (next.password === undefined && old.password !== undefined)
                next.password = old.password;
            users.set(old.id, next);
            return publicUser(next);
        }
        for (const u of users.values())
            if (u.userName === data.userName)
                throw new SCIMMY.Types.Error(409, "uniqueness", `userName ${data.userName} is taken`);
        const id = newId();
        const user = {active: true, ...data, id, meta: {created: now(), lastModified: now()}};
        users.set(id, user);
        return publicUser(user);
    },
    degress: (resource) => {
        if (!users.delete(resource.id))
            throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
    },
});

SCIMMY.Resources.declare(SCIMMY.Resources.Group, {
    // a group without members still has an empty list, so a filter on
    // members (members[value eq "ID"], as reactivate lists a user's
    // groups) does not trip over it
    egress: (resource) => listOrOne(groups, resource, g => {
        const c = structuredClone(g);
        if (!Array.isArray(c.members))
            c.members = [];
        return c;
    }),
    ingress: (resource, instance) => {
        const data = JSON.parse(JSON.stringify(instance));
        for (const m of data.members ?? [])
            if (!users.has(m.value))
                throw new SCIMMY.Types.Error(400, "invalidValue", `member ${m.value} is not a user`);
        if (resource.id) {
            const old = groups.get(resource.id);
            if (old === undefined)
                throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
            const next = {...data, id: old.id, meta: {...old.meta, lastModified: now()}};
            groups.set(old.id, next);
            return structuredClone(next);
        }
        const id = newId();
        const group = {...data, id, meta: {created: now(), lastModified: now()}};
        groups.set(id, group);
        return structuredClone(group);
    },
    degress: (resource) => {
        if (!groups.delete(resource.id))
            throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
    },
});

function bearerOk(req) {
    const h = req.header("Authorization") ?? "";
    if (!h.startsWith("Bearer "))
        return false;
    const a = Buffer.from(h.slice(7));
    const b = Buffer.from(token);
    return a.length === b.length && crypto.timingSafeEqual(a, b);
}

const app = express();
app.disable("x-powered-by");

// ---- test side-door ------------------------------------------------------
app.get("/_test/users/:userName", (req, res) => {
    for (const u of users.values())
        if (u.userName === req.params.userName)
            return res.json(u);
    res.status(404).json({error: "no such user"});
});
app.get("/_test/groups/:name", (req, res) => {
    for (const g of groups.values())
        if (g.displayName === req.params.name)
            return res.json(g);
    res.status(404).json({error: "no such group"});
});
app.get("/_test/requests", (req, res) => res.json(requests));
app.post("/_test/fault", express.json(), (req, res) => {
    const f = req.body ?? {};
    fault = Object.keys(f).length === 0 ? null : f;
    res.json({fault});
});

// ---- SCIM ------------------------------------------------------------------
// record, then apply any fault, before scimmy sees the request
app.use("/scim/v2", express.json({type: ["application/scim+json", "application/json"]}),
    (req, res, next) => {
        requests.push({method: req.method, url: req.originalUrl,
            filter: typeof req.query.filter === "string" ? req.query.filter : null,
            body: req.body ?? null});
        if (requests.length > 200)
            requests.shift();
        if (fault === null || (fault.method && fault.method !== req.method))
            return next();
        if (typeof fault.skip === "number" && fault.skip > 0) {
            fault.skip--;
            return next();
        }
        if (typeof fault.times === "number") {
            if (fault.times <= 0) {
                fault = null;
                return next();
            }
            fault.times--;
        }
        if (fault.hang)
            return;   // never answer; the client's timeout must fire
        const status = Number(fault.status ?? 500);
        const err = {schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
            status: String(status), detail: fault.detail ?? `injected fault ${status}`};
        if (fault.scimType)
            err.scimType = fault.scimType;
        res.status(status).type("application/scim+json").send(JSON.stringify(err));
    });
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    handler: (req) => {
        if (!bearerOk(req))
            throw new Error("Bearer token missing or wrong");
        return undefined;
    },
}));

if (process.argv[3])
    seed(process.argv[3]);

const server = app.listen(port, "127.0.0.1", () => {
    process.stdout.write(`listening ${port}\n`);
});
server.on("error", (e) => {
    process.stderr.write(`scim_server: ${e.message}\n`);
    process.exit(1);
});
for (const sig of ["SIGTERM", "SIGINT"])
    process.on(sig, () => {
        server.closeAllConnections?.();
        server.close(() => process.exit(0));
        setTimeout(() => process.exit(0), 1000).unref();
    });
