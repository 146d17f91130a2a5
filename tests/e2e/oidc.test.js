// oidc.test.js - single sign-on in a real browser against a real OpenID
// provider (tests/servers/oidc_provider.js: oidc-provider from npm, pinned
// in tests/servers' lockfile): "Sign in with SSO" on /login, the provider's
// login form, back through /sso/callback to the queues, signed in as the
// staff member the ID token names. The authorization request used PKCE
// (S256), a state and a nonce. Approving a critical case asks an SSO user
// to re-authenticate: the case page links to a fresh login, the provider
// is asked to authenticate again, and the approval goes through after.
// A provider account that is not staff gets no session.

'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');
const { withWorld, freePort, REPO } = require('./harness');

const PROVIDER = path.join(REPO, 'tests', 'servers', 'oidc_provider.js');

// Starts the provider; resolves with {url, stop()} once it listens.
async function startProvider(dir, cfg) {
	const file = path.join(dir, 'provider.json');
	fs.writeFileSync(file, JSON.stringify(cfg));
	const log = path.join(dir, 'provider.log');
	const err = fs.openSync(log, 'a');
	const p = spawn(process.execPath, [PROVIDER, file], {
		cwd: path.dirname(PROVIDER), stdio: ['ignore', 'pipe', err],
	});
	fs.closeSync(err);
	const exited = new Promise((r) => p.on('exit', (c) => r(c)));
	const stop = async () => {
		if (p.exitCode === null && p.signalCode === null)
			p.kill('SIGTERM');
		const t = setTimeout(() => p.kill('SIGKILL'), 5000);
		await exited;
		clearTimeout(t);
	};
	try {
		await new Promise((resolve, reject) => {
			let out = '';
			const t = setTimeout(() => reject(new Error(
			    'the OIDC provider did not start in 20 s')), 20000);
			p.stdout.on('data', (d) => {
				out += d;
				if (/listening \d+/.test(out)) {
					clearTimeout(t);
					resolve();
				}
			});
			p.on('exit', (c) => {
				clearTimeout(t);
				reject(new Error(`the OIDC provider exited ${c}:\n` +
				    fs.readFileSync(log, 'utf8')));
			});
		});
	} catch (e) {
		await stop();
		throw e;
	}
	return { url: cfg.issuer, stop, log };
}

// The provider's own login page (not the console's: plain fields).
async function providerLogin(page, login, password) {
	await page.waitForURL(/\/interaction\//);
	await page.locator('input[name="login"]').fill(login);
	await page.locator('input[name="password"]').fill(password);
	await page.getByRole('button', { name: /sign in/i }).click();
}

// A critical case (radmin's MFA reset) with its evidence and bob's
// approval in, through the API: carol's approval is what is missing.
async function criticalAwaitingCarol(w) {
	let r = await w.api('alice', 'POST', '/v1/cases', {
		subject: 'radmin', action: 'mfa_reset', channel: 'phone',
		ticket: 'INC-1042', reason_code: 'lost_device',
		justification: 'caller says she lost her phone',
	});
	assert.equal(r.status, 201, JSON.stringify(r.body));
	const id = r.body.id;
	r = await w.api('alice', 'POST', `/v1/cases/${id}/evidence`, {
		method: 'callback_on_file', contact: '+1 555 0103',
		result: 'pass', reference: 'called back' });
	assert.equal(r.status, 201, JSON.stringify(r.body));
	w.enroll('radmin');
	r = await w.api('bob', 'POST', `/v1/cases/${id}/evidence`, {
		method: 'registered_factor', code: w.totp('radmin') });
	assert.equal(r.status, 201, JSON.stringify(r.body));
	r = await w.api('bob', 'POST', `/v1/cases/${id}/approvals`, {
		decision: 'approve', comment: 'ok' });
	assert.equal(r.status, 201, JSON.stringify(r.body));
	assert.equal(r.body.state, 'approving');
	return id;
}

test('OIDC: sign in through the provider and back to the console',
    async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twokey-oidc-'));
	const [tkPort, idpPort] = [await freePort(), await freePort()];
	const secret = crypto.randomBytes(24).toString('hex');
	const carolPw = crypto.randomBytes(12).toString('hex');
	const issuer = `http://127.0.0.1:${idpPort}`;
	const redirect = `http://127.0.0.1:${tkPort}/sso/callback`;
	let idp = null;
	try {
		idp = await startProvider(dir, {
			port: idpPort, issuer, client_id: 'twokey',
			client_secret: secret, redirect_uri: redirect,
			alg: 'ES256',
			accounts: {
				carol: { password: carolPw, claims:
				    { preferred_username: 'carol',
				      name: 'Carol Chen' } },
				mallory: { password: 'mallory-pw', claims:
				    { preferred_username: 'mallory' } },
			},
		});
		const secretFile = path.join(dir, 'oidc-secret');
		fs.writeFileSync(secretFile, secret + '\n', { mode: 0o600 });
		const oidcFile = path.join(dir, 'oidc.yaml');
		fs.writeFileSync(oidcFile, [
			`issuer: ${issuer}`,
			'client_id: twokey',
			`client_secret_file: ${secretFile}`,
			`redirect_uri: ${redirect}`,
			'claim: preferred_username',
			'scopes: openid profile',
			'',
		].join('\n'));

		await withWorld({ users: ['alice', 'bob', 'carol', 'ivan'],
		    accounts: false,
		    port: tkPort, serveArgs: ['--oidc', oidcFile] },
		    async (w) => {
			// carol: SSO from the sign-in page
			const ctx = await w.context();
			const page = await ctx.newPage();
			await page.goto('/login?next=/audit');
			await page.getByRole('link',
			    { name: /sign in with sso/i }).click();
			await providerLogin(page, 'carol', carolPw);
			await page.waitForURL((u) => u.port === String(tkPort) &&
			    u.pathname === '/audit', { timeout: 15000 });
			await assert.doesNotReject(page.getByText('Carol Chen')
			    .first().waitFor(), 'not signed in as carol');
			const sess = (await ctx.cookies()).find((c) =>
			    c.name === 'tk_session');
			assert.ok(sess, 'no session cookie after SSO');
			assert.equal(sess.httpOnly, true);
			assert.equal(sess.sameSite, 'Strict');

			let reqs = await (await fetch(issuer +
			    '/_test/requests')).json();
			assert.equal(reqs.length, 1, JSON.stringify(reqs));
			const q = reqs[0];
			assert.equal(q.client_id, 'twokey');
			assert.equal(q.redirect_uri, redirect);
			assert.equal(q.response_type, 'code');
			assert.equal(q.code_challenge_method, 'S256');
			assert.match(q.code_challenge || '', /^[A-Za-z0-9_-]{43}$/);
			assert.ok(q.state && q.state.length >= 16, 'state');
			assert.ok(q.nonce && q.nonce.length >= 16, 'nonce');
			assert.match(q.scope, /\bopenid\b/);

			// re-authentication: carol's approval of a critical case
			// needs a fresh login; the case page links to one, the
			// provider is asked to authenticate again, and the
			// decision is accepted afterwards
			const id = await criticalAwaitingCarol(w);
			await page.goto('/cases/' + id);
			const dec = page.getByRole('region', { name: 'Decision' });
			const again = dec.getByRole('link',
			    { name: 'Re-authenticate with SSO' });
			assert.equal(await again.count(), 1, 'no SSO ' +
			    're-authentication link: ' + await dec.innerText());
			let [r] = await Promise.all([page.waitForNavigation(),
				dec.getByRole('button', { name: 'Approve',
				    exact: true }).click()]);
			assert.ok(r.status() >= 400, 'a critical approval ' +
			    'without re-authentication was accepted');
			let c = await w.case('ivan', id);
			assert.deepEqual(c.approvals.map((a) => a.by), ['bob']);

			await page.goto('/cases/' + id);
			await dec.getByRole('link',
			    { name: 'Re-authenticate with SSO' }).click();
			await providerLogin(page, 'carol', carolPw);
			await page.waitForURL((u) => u.port === String(tkPort) &&
			    u.pathname === '/cases/' + id, { timeout: 15000 });
			reqs = await (await fetch(issuer +
			    '/_test/requests')).json();
			assert.equal(reqs.length, 2);
			assert.ok(reqs[1].prompt === 'login' ||
			    reqs[1].max_age === '0', 'a fresh login did not ' +
			    'ask to authenticate again: ' +
			    JSON.stringify(reqs[1]));
			assert.notEqual(reqs[1].state, reqs[0].state);
			assert.equal(await again.count(), 0,
			    'still asked to re-authenticate after doing so');
			await dec.getByLabel('Comment', { exact: true })
			    .fill('verified with secops');
			[r] = await Promise.all([page.waitForNavigation(),
				dec.getByRole('button', { name: 'Approve',
				    exact: true }).click()]);
			assert.ok(r.status() < 400, `approval after SSO ` +
			    `re-authentication: ${r.status()}`);
			c = await w.case('ivan', id);
			assert.equal(c.state, 'on_hold', JSON.stringify(c));
			assert.deepEqual(c.approvals.map((a) => a.by),
			    ['bob', 'carol']);

			// mallory has a provider account but is not staff
			const mctx = await w.context();
			const mp = await mctx.newPage();
			await mp.goto('/login');
			await mp.getByRole('link',
			    { name: /sign in with sso/i }).click();
			await providerLogin(mp, 'mallory', 'mallory-pw');
			await mp.waitForURL((u) => u.port === String(tkPort),
			    { timeout: 15000 });
			await mp.waitForLoadState('load');
			const ms = (await mctx.cookies()).find((c) =>
			    c.name === 'tk_session' && c.value);
			assert.ok(!ms, 'a provider account that is not staff ' +
			    'got a session');
			await mp.goto('/queues');
			assert.equal(new URL(mp.url()).pathname, '/login');
		});
	} finally {
		if (idp)
			await idp.stop();
		fs.rmSync(dir, { recursive: true, force: true });
	}
});
