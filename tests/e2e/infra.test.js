// infra.test.js - the browser-test machinery itself: TOTP codes match
// RFC 6238's test vectors, and a World starts twokey and chromium, the
// browser reaches the server, the clock hook moves the server's time, and
// everything stops cleanly.

'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { withWorld, totpAt, parseOtpauth, HOUR } = require('./harness');

test('TOTP codes match RFC 6238 appendix B (SHA-1, 8 digits)', () => {
	// secret "12345678901234567890" in base32
	const f = parseOtpauth('otpauth://totp/x?secret=' +
	    'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8');
	assert.equal(totpAt(f, Math.floor(59 / 30)), '94287082');
	assert.equal(totpAt(f, Math.floor(1111111109 / 30)), '07081804');
	assert.equal(totpAt(f, Math.floor(20000000000 / 30)), '65353130');
});

test('chromium reaches a twokey server; the clock hook moves its time',
    async () => {
	await withWorld({ accounts: false, users: ['alice'] }, async (w) => {
		const ctx = await w.context();
		const page = await ctx.newPage();
		const r = await page.goto('/v1/health');
		assert.equal(r.status(), 200);
		const body = await r.text();
		assert.match(body, /ok|status/i, body);

		// a case opened after moving the clock 30 days is dated then
		w.advance(30 * 24 * HOUR);
		const c = await w.api('alice', 'POST', '/v1/cases', {
			subject: 'jsmith', action: 'password_reset',
			channel: 'phone',
		});
		assert.equal(c.status, 201, JSON.stringify(c.body));
		const created = Date.parse(c.body.created) / 1000;
		assert.ok(created > Date.now() / 1000 + 29 * 24 * HOUR,
		    `clock hook not honoured: created ${c.body.created}`);
	});
});
