// critical.test.js - the spine's critical scenario played in the console
// by four people in four browsers: alice (help desk) opens an MFA reset
// for radmin (label admin: tier critical) through the New case form and
// records a callback to the number on file; bob (help desk) enters the
// code from radmin's registered authenticator and approves; carol
// (security) approves after re-authenticating with her TOTP code; the 4 h
// hold starts; frank (incident response) cannot execute during it, and
// executes once the server's clock has moved past it. Every step is also
// checked through the API.
//
// With TWOKEY_SCREENSHOTS=1 it saves docs/img/queue.png and case.png.

'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { withWorld, screenshot, HOUR, MINUTE } = require('./harness');
const C = require('./console');

const USERS = ['alice', 'bob', 'carol', 'frank', 'ivan'];
const RADMIN_PHONE = '+1 555 0103';

function missing(c, group) {
	return c.missing.filter((m) => m.group === group);
}

// A few more open cases, so the queue screenshot shows a working day.
async function moreCases(w) {
	const cases = [
		['alice', { subject: 'jsmith', action: 'password_reset',
		    ticket: 'INC-1051', reason_code: 'forgot_password' }],
		['bob', { subject: 'pwhite', action: 'device_enrolment',
		    ticket: 'INC-1053', reason_code: 'new_device' }],
		['alice', { subject: 'svc-payments', action: 'api_key_reissue',
		    ticket: 'CHG-311', reason_code: 'rotation' }],
		['bob', { subject: 'jsmith', action: 'role_grant',
		    ticket: 'CHG-318', reason_code: 'role_change',
		    params: { group: 'finance-readers' } }],
	];
	for (const [who, body] of cases) {
		const r = await w.api(who, 'POST', '/v1/cases', {
			channel: 'ticket', justification: 'requested by ticket',
			...body });
		assert.equal(r.status, 201, JSON.stringify(r.body));
	}
}

test('critical MFA reset: four people, four browsers, re-auth and hold',
    async () => {
	await withWorld({ users: USERS }, async (w) => {
		w.enroll('radmin');
		const [actx, bctx, cctx, fctx] = await Promise.all(
		    [w.context(), w.context(), w.context(), w.context()]);

		// alice opens the case and records the callback
		const alice = await C.signIn(w, actx, 'alice');
		const id = await C.openCase(alice, {
			subject: 'radmin', action: 'mfa_reset', channel: 'phone',
			ticket: 'INC-1042', reason_code: 'lost_device',
			justification: 'caller says she lost her phone',
		});
		let c = await w.case('ivan', id);
		assert.equal(c.tier, 'critical', JSON.stringify(c));
		assert.equal(c.state, 'verifying');
		assert.equal(c.requester, 'alice');
		assert.equal(c.ticket, 'INC-1042');
		// the page says what it is
		const main = alice.locator('main');
		await assert.doesNotReject(main.getByText(/critical/i).first()
		    .waitFor(), 'the case page does not show the tier');

		let r = await C.recordEvidence(alice, {
			method: 'callback_on_file', contact: RADMIN_PHONE,
			result: 'pass',
			reference: 'called back the number on file',
		});
		assert.ok(r.status() < 400, `alice's evidence: ${r.status()} ` +
		    (await C.alertText(alice)));
		c = await w.case('ivan', id);
		assert.equal(c.evidence.length, 1, JSON.stringify(c.evidence));
		assert.equal(c.evidence[0].by, 'alice');
		assert.equal(c.state, 'verifying', 'one of two records');

		// bob: the code from radmin's authenticator, then his approval
		const bob = await C.signIn(w, bctx, 'bob');
		await C.gotoCase(bob, id);
		r = await C.totpEvidence(bob, w.totp('radmin'));
		assert.ok(r.status() < 400, `bob's TOTP evidence: ` +
		    `${r.status()} ${await C.alertText(bob)}`);
		c = await w.case('ivan', id);
		assert.equal(c.state, 'approving', JSON.stringify(c.missing));
		assert.equal(missing(c, 'evidence').length, 0);

		r = await C.decide(bob, { decision: 'approve',
			comment: 'callback and factor check out',
			code: w.totp('bob') });
		assert.ok(r.status() < 400, `bob's approval: ${r.status()} ` +
		    (await C.alertText(bob)));
		c = await w.case('ivan', id);
		assert.equal(c.state, 'approving');
		assert.deepEqual(c.approvals.map((a) => a.by), ['bob']);

		// carol: critical tier asks her to re-authenticate; without the
		// code her approval is refused and nothing is recorded
		const carol = await C.signIn(w, cctx, 'carol');
		await C.gotoCase(carol, id);
		r = await C.decide(carol, { decision: 'approve',
			comment: 'no code' });
		assert.ok(r.status() >= 400, 'a critical approval without ' +
		    're-authentication was accepted');
		assert.ok(await C.alertText(carol), 'no alert explains the ' +
		    'missing re-authentication');
		c = await w.case('ivan', id);
		assert.deepEqual(c.approvals.map((a) => a.by), ['bob']);

		await C.gotoCase(carol, id);
		r = await C.decide(carol, { decision: 'approve',
			comment: 'verified with secops', code: w.totp('carol') });
		assert.ok(r.status() < 400, `carol's approval: ${r.status()} ` +
		    (await C.alertText(carol)));
		c = await w.case('ivan', id);
		assert.equal(c.state, 'on_hold', JSON.stringify(c));
		assert.ok(c.hold_until);
		const holdEnd = Date.parse(c.hold_until) / 1000;
		const lastAp = Math.max(...c.approvals.map((a) =>
		    Date.parse(a.at) / 1000));
		assert.ok(Math.abs(holdEnd - (lastAp + 4 * HOUR)) <= 5,
		    `hold ends ${c.hold_until}`);
		await assert.doesNotReject(carol.locator('main')
		    .getByText(/hold/i).first().waitFor(),
		    'the case page does not show the hold');

		// frank cannot execute during the hold
		const frank = await C.signIn(w, fctx, 'frank');
		await C.gotoCase(frank, id);
		assert.equal(await C.section(frank, 'Execute').count(), 0,
		    'execute is offered during the hold');
		await assert.doesNotReject(C.section(frank, 'Requirements')
		    .getByText(/on hold/i).first().waitFor(),
		    'the case page does not show the hold');
		await screenshot(frank, 'case');
		if (process.env.TWOKEY_SCREENSHOTS === '1')
			await moreCases(w);
		await frank.goto('/queues');
		await screenshot(frank, 'queue');
		await frank.goto('/queues?family=mfa');
		const row = frank.getByRole('row').filter({ has:
		    frank.getByRole('link', { name: id, exact: true }) });
		assert.equal(await row.count(), 1,
		    'the mfa queue does not list the case');
		assert.match(await row.innerText(), /radmin[\s\S]*critical/);

		// past the hold (sessions idle out over 4 h: sign in again)
		w.advance(4 * HOUR + 2 * MINUTE);
		c = await w.case('frank', id);
		assert.equal(c.state, 'ready', JSON.stringify(c));
		const frank2 = await C.signIn(w, fctx, 'frank',
		    { next: '/cases/' + id });
		assert.equal(C.caseIdOf(frank2), id);
		r = await C.execute(frank2, {
			note: 'MFA factors removed in the IdP',
			revoked: ['sessions', 'tokens'],
		});
		assert.ok(r.status() < 400, `frank's execute: ${r.status()} ` +
		    (await C.alertText(frank2)));
		c = await w.case('ivan', id);
		assert.equal(c.state, 'review', JSON.stringify(c));
		assert.equal(c.execution.by, 'frank');
		assert.deepEqual([...c.execution.revoked].sort(),
		    ['sessions', 'tokens']);

		// the timeline names all four, in order
		const kinds = c.events.map((e) => `${e.actor}:${e.kind}`);
		for (const who of ['alice', 'bob', 'carol', 'frank'])
			assert.ok(c.events.some((e) => e.actor === who),
			    `${who} missing from the timeline: ${kinds}`);
		const tl = await frank2.locator('main').innerText();
		for (const who of ['alice', 'bob', 'carol', 'frank'])
			assert.match(tl, new RegExp(who, 'i'),
			    `the page's timeline does not name ${who}`);
	});
});
