// harness.js - fixtures for twokey's browser tests (tests/e2e/*.test.js).
//
// A World is one test's own twokey: a temporary data folder, a database
// made by `twokey init` with the demo org and policy (examples/demo), local
// console accounts (password + TOTP) for the staff the test names, API
// tokens for checking state behind the browser's back, and a running
// `twokey serve` on a free loopback port whose clock the test moves with
// the test hook TWOKEY_TEST_CLOCK_FILE (seconds added to the real clock).
// Each World also launches Debian's chromium headless through
// playwright-core; close() stops the browser and the server and removes the
// folder, and fails when the server did not exit cleanly (ASan/UBSan
// reports make the exit code non-zero).
//
// Owns: the world's processes and files, TOTP codes computed from the
// otpauth URIs, the sign-in and axe-core helpers shared by the tests.

'use strict';

const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const HERE = __dirname;
const REPO = path.resolve(HERE, '..', '..');
const DEMO_ORG = path.join(REPO, 'examples', 'demo', 'org.yaml');
const DEMO_POLICY = path.join(REPO, 'examples', 'demo', 'policy.yaml');
const AXE = path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js');
const SHOTS = path.join(REPO, 'docs', 'img');

const STAFF = ['alice', 'bob', 'erin', 'carol', 'dave', 'frank', 'grace',
	'henry', 'ivan', 'olivia'];
const HOUR = 3600;
const MINUTE = 60;
const START_TIMEOUT_MS = 20000;

function twokeyBin() {
	let b = process.env.TWOKEY_BIN;
	if (!b) {
		for (const mode of ['asan', 'debug', 'release']) {
			const c = path.join(REPO, 'build', mode, 'twokey');
			if (fs.existsSync(c)) { b = c; break; }
		}
	}
	if (!b)
		throw new Error('twokey binary not found: set TWOKEY_BIN or ' +
		    'run `make MODE=asan build`');
	fs.accessSync(b, fs.constants.X_OK);
	return b;
}

function chromiumPath() {
	if (process.env.TWOKEY_CHROMIUM)
		return process.env.TWOKEY_CHROMIUM;
	// the binary itself rather than Debian's /usr/bin/chromium shell
	// wrapper, so playwright talks to the process it started
	for (const c of ['/usr/lib/chromium/chromium', '/usr/bin/chromium']) {
		if (fs.existsSync(c))
			return c;
	}
	throw new Error('chromium not found: run `scripts/deps.sh e2e` ' +
	    '(Debian package chromium) or set TWOKEY_CHROMIUM');
}

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.unref();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// Runs the CLI synchronously; throws with its output when it fails.
function cli(args, opts = {}) {
	const r = spawnSync(twokeyBin(), args.map(String), {
		cwd: REPO, input: opts.input, encoding: 'utf8', timeout: 60000,
		env: { ...process.env, ...(opts.env || {}) },
	});
	if (r.error)
		throw r.error;
	if (r.status !== 0 && !opts.allowFail)
		throw new Error(`twokey ${args.join(' ')} exited ${r.status}:\n` +
		    `${r.stdout}${r.stderr}`);
	return r;
}

// RFC 4648 base32 (no padding needed).
function base32Decode(s) {
	const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
	let bits = 0, value = 0;
	const out = [];
	for (const ch of s.toUpperCase().replace(/=+$/, '')) {
		const i = alpha.indexOf(ch);
		if (i < 0)
			throw new Error(`not base32: ${JSON.stringify(ch)}`);
		value = (value << 5) | i;
		bits += 5;
		if (bits >= 8) {
			out.push((value >>> (bits - 8)) & 0xff);
			bits -= 8;
		}
	}
	return Buffer.from(out);
}

// A factor from an otpauth://totp/... URI: key, algorithm, digits, period.
function parseOtpauth(uri) {
	const u = new URL(uri);
	assert.equal(u.protocol, 'otpauth:', `not an otpauth URI: ${uri}`);
	const q = u.searchParams;
	return {
		key: base32Decode(q.get('secret')),
		alg: (q.get('algorithm') || 'SHA1').toLowerCase(),
		digits: Number(q.get('digits') || 6),
		period: Number(q.get('period') || 30),
		last: -1,
	};
}

// RFC 6238 code for a step.
function totpAt(f, step) {
	const msg = Buffer.alloc(8);
	msg.writeBigUInt64BE(BigInt(step));
	const h = crypto.createHmac(f.alg, f.key).update(msg).digest();
	const o = h[h.length - 1] & 0x0f;
	const v = h.readUInt32BE(o) & 0x7fffffff;
	return String(v % 10 ** f.digits).padStart(f.digits, '0');
}

class World {
	// opts.users: staff given console accounts (default all demo staff);
	// opts.serveArgs: extra `twokey serve` arguments; opts.port: the
	// port to serve on; opts.accounts: false for no console accounts.
	constructor(opts = {}) {
		this.opts = opts;
		this.users = opts.users || STAFF;
		this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'twokey-e2e-'));
		this.data = path.join(this.tmp, 'data');
		fs.mkdirSync(this.data);
		this.db = path.join(this.data, 'twokey.db');
		this.clockFile = path.join(this.data, 'clock');
		this.stderrPath = path.join(this.data, 'server.stderr');
		this.offset = 0;
		this.tokens = {};
		this.passwords = {};
		this.factors = {};
		this.proc = null;
		this.browser = null;
		this.contexts = [];
		this.exitCode = null;
	}

	// Everything up: database, accounts, server, browser.
	async setup() {
		this.writeClock();
		cli(['init', '--db', this.db, '--org', this.opts.org || DEMO_ORG,
			'--policy', this.opts.policy || DEMO_POLICY]);
		for (const u of this.users) {
			const r = cli(['token', 'issue', '--db', this.db, u]);
			const m = r.stdout.match(/\btk_[A-Za-z0-9_-]+/g);
			this.tokens[u] = m ? m[m.length - 1] :
			    r.stdout.trim().split(/\s+/).pop();
		}
		if (this.opts.accounts !== false) {
			for (const u of this.users)
				this.makeAccount(u);
		}
		await this.start();
		await this.launch();
	}

	// A local console account: a random password and a TOTP factor.
	makeAccount(login) {
		const pw = `e2e-${login}-` + crypto.randomBytes(12).toString('hex');
		cli(['account', 'password', '--db', this.db, login, '--stdin'],
		    { input: pw + '\n' });
		this.passwords[login] = pw;
		const r = cli(['account', 'totp', '--db', this.db, login]);
		const uri = (r.stdout.match(/otpauth:\/\/totp\/\S+/) || [])[0];
		assert.ok(uri, `twokey account totp ${login} printed no ` +
		    `otpauth URI:\n${r.stdout}`);
		this.factors[login] = parseOtpauth(uri);
	}

	// A TOTP factor for a subject (registered_factor evidence).
	enroll(subject) {
		const r = cli(['factor', 'enroll', '--db', this.db, subject]);
		const uri = r.stdout.split('\n')[0].trim();
		assert.ok(uri.startsWith('otpauth://totp/'), uri);
		this.factors[subject] = parseOtpauth(uri);
	}

	// The next unused code for who's factor at the server's clock (the
	// server refuses a replayed step). The current step, or the next one
	// when it is used: the server takes one step either side, and a step
	// boundary passing before the server checks stays inside that window
	// (the previous step would fall out of it).
	totp(who) {
		const f = this.factors[who];
		assert.ok(f, `${who} has no TOTP factor in this world`);
		const now = Math.floor((Date.now() / 1000 + this.offset) /
		    f.period);
		const step = Math.max(now, f.last + 1);
		assert.ok(step <= now + 1,
		    `no unused TOTP step left for ${who} in the window`);
		f.last = step;
		return totpAt(f, step);
	}

	writeClock() {
		const tmp = this.clockFile + '.tmp';
		fs.writeFileSync(tmp, `${this.offset}\n`);
		fs.renameSync(tmp, this.clockFile);
	}

	// Moves the server's clock forward.
	advance(seconds) {
		this.offset += Math.trunc(seconds);
		this.writeClock();
	}

	async start() {
		let last = '';
		for (let attempt = 0; attempt < 4; attempt++) {
			// opts.port: a port chosen before (e.g. named in an
			// OIDC redirect_uri), tried first
			this.port = attempt === 0 && this.opts.port ?
			    this.opts.port : await freePort();
			this.base = `http://127.0.0.1:${this.port}`;
			const args = ['serve', '--db', this.db, '--listen',
				`127.0.0.1:${this.port}`, '--quiet',
				...(this.opts.serveArgs || [])];
			const err = fs.openSync(this.stderrPath, 'a');
			this.proc = spawn(twokeyBin(), args, {
				cwd: REPO, stdio: ['ignore', err, err],
				env: { ...process.env,
					TWOKEY_TEST_CLOCK_FILE: this.clockFile },
			});
			fs.closeSync(err);
			const p = this.proc;
			p.exited = new Promise((r) => p.on('exit',
			    (code, sig) => r(code === null ? `signal ${sig}` :
			    code)));
			p.on('exit', () => { p.dead = true; });
			const deadline = Date.now() + START_TIMEOUT_MS;
			while (Date.now() < deadline && !p.dead) {
				try {
					const r = await fetch(this.base + '/v1/health',
					    { signal: AbortSignal.timeout(2000) });
					if (r.status === 200)
						return;
				} catch (e) {
					// not listening yet
				}
				await sleep(50);
			}
			if (!p.dead) {
				p.kill('SIGKILL');
				await p.exited;
				this.proc = null;
				throw new Error('server did not answer /v1/health ' +
				    `within ${START_TIMEOUT_MS} ms:\n` +
				    this.stderrTail());
			}
			last = this.stderrTail();
			this.proc = null;
			if (!/in use/i.test(last))
				break;
		}
		throw new Error('server did not start:\n' + last);
	}

	// SIGTERM, SIGKILL after 10 s; returns the exit code.
	async stop() {
		const p = this.proc;
		if (!p)
			return this.exitCode;
		this.proc = null;
		if (!p.dead)
			p.kill('SIGTERM');
		const t = setTimeout(() => { if (!p.dead) p.kill('SIGKILL'); },
		    10000);
		this.exitCode = await p.exited;
		clearTimeout(t);
		return this.exitCode;
	}

	stderrTail(lines = 60) {
		try {
			const s = fs.readFileSync(this.stderrPath, 'utf8');
			return s.split('\n').slice(-lines).join('\n');
		} catch (e) {
			return '';
		}
	}

	async launch() {
		// required here, not at the top, so that a missing npm ci shows
		// as one clear error
		const { chromium } = require('playwright-core');
		this.browser = await chromium.launch({
			executablePath: chromiumPath(),
			headless: true,
			args: ['--no-sandbox'],
		});
	}

	// A fresh browser context (one person's browser): own cookies.
	async context(opts = {}) {
		const c = await this.browser.newContext({
			baseURL: this.base,
			viewport: { width: 1280, height: 800 },
			...opts,
		});
		c.setDefaultTimeout(10000);
		this.contexts.push(c);
		return c;
	}

	// One API request as a staff member (bearer token) or anonymously.
	async api(user, method, p, body) {
		const h = {};
		if (user)
			h.Authorization = 'Bearer ' + this.tokens[user];
		let data;
		if (body !== undefined) {
			h['Content-Type'] = 'application/json';
			data = JSON.stringify(body);
		}
		const r = await fetch(this.base + p, { method, headers: h,
			body: data, redirect: 'manual' });
		const text = await r.text();
		let json = text;
		try { json = JSON.parse(text); } catch (e) { /* text */ }
		return { status: r.status, body: json };
	}

	async case(user, id) {
		const r = await this.api(user, 'GET', '/v1/cases/' + id);
		assert.equal(r.status, 200, `GET case ${id} as ${user}: ` +
		    JSON.stringify(r.body));
		return r.body;
	}

	// Tears everything down; throws when the server did not exit 0.
	async close() {
		const problems = [];
		for (const c of this.contexts)
			await c.close().catch(() => {});
		if (this.browser)
			await this.browser.close().catch((e) =>
			    problems.push('browser: ' + e.message));
		this.browser = null;
		const wasDead = this.proc && this.proc.dead;
		const code = await this.stop();
		if (wasDead)
			problems.push(`server had died (exit ${code})`);
		else if (code !== null && code !== 0)
			problems.push(`server exited ${code} on SIGTERM`);
		const tail = this.stderrTail();
		if ((problems.length || this.failed) &&
		    process.env.TWOKEY_E2E_KEEP)
			console.error(`kept ${this.tmp}`);
		else
			fs.rmSync(this.tmp, { recursive: true, force: true });
		if (problems.length)
			throw new Error(problems.join('; ') + '\n' + tail);
	}
}

// Runs fn(world) with a fresh world, always closing it. A failure in fn
// gets the server's stderr attached.
async function withWorld(opts, fn) {
	const w = new World(opts);
	let failure = null;
	try {
		await w.setup();
		await fn(w);
	} catch (e) {
		failure = e;
		w.failed = true;
		const tail = w.stderrTail(30);
		if (tail && e && typeof e.message === 'string')
			e.message += '\n--- server stderr (tail) ---\n' + tail;
	}
	try {
		await w.close();
	} catch (e) {
		if (!failure)
			failure = e;
		else
			failure.message += '\n--- and at close: ' + e.message;
	}
	if (failure)
		throw failure;
}

// Runs axe-core on the page and fails on serious or critical violations,
// printing each. The console's CSP (script-src 'self') forbids injected
// script tags, so axe's source goes in through the DevTools protocol
// (page.evaluate), which the page's CSP does not govern.
let axeSource = null;
async function checkA11y(page, name) {
	if (axeSource === null)
		axeSource = fs.readFileSync(AXE, 'utf8');
	const has = await page.evaluate(() => typeof window.axe);
	if (has !== 'object')
		await page.evaluate(axeSource);
	const out = await page.evaluate(async () => {
		// eslint-disable-next-line no-undef
		const r = await axe.run(document, {
			resultTypes: ['violations'],
		});
		return { passes: r.passes.length, violations:
		    r.violations.map((v) => ({
			id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.slice(0, 5).map((n) => ({
				target: n.target.join(' '),
				summary: n.failureSummary,
			})),
		})) };
	});
	// a run that checked nothing would pass anything
	assert.ok(out.passes >= 5, `axe on ${name} checked almost nothing ` +
	    `(${out.passes} rules passed)`);
	const res = out.violations;
	const bad = res.filter((v) => v.impact === 'serious' ||
	    v.impact === 'critical');
	const minor = res.filter((v) => !bad.includes(v));
	if (minor.length)
		console.log(`axe ${name}: ${minor.length} minor: ` +
		    minor.map((v) => `${v.id} (${v.impact})`).join(', '));
	if (bad.length) {
		const lines = bad.map((v) => `  ${v.impact} ${v.id}: ${v.help}\n` +
		    v.nodes.map((n) => `    at ${n.target}: ` +
		    `${(n.summary || '').replace(/\n/g, ' ')}`).join('\n'));
		assert.fail(`axe on ${name} (${page.url()}): ` +
		    `${bad.length} serious/critical violation(s):\n` +
		    lines.join('\n'));
	}
	return res;
}

// Saves a 1280x800 screenshot to docs/img/NAME.png when
// TWOKEY_SCREENSHOTS=1 (so `make test` leaves tracked files alone).
async function screenshot(page, name) {
	if (process.env.TWOKEY_SCREENSHOTS !== '1')
		return null;
	fs.mkdirSync(SHOTS, { recursive: true });
	const file = path.join(SHOTS, name + '.png');
	await page.setViewportSize({ width: 1280, height: 800 });
	await page.screenshot({ path: file });
	return file;
}

module.exports = {
	World, withWorld, checkA11y, screenshot, cli, twokeyBin, freePort,
	sleep, totpAt, parseOtpauth, base32Decode,
	REPO, STAFF, HOUR, MINUTE,
};
