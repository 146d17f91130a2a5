// break_glass.test.js - the marked emergency path in the browser: on a
// high-tier MFA reset for pwhite (executive, finance), alice (help desk)
// is not offered break-glass and a hand-made declaration is refused with
// a visible reason; frank (incident response) reads the consequences,
// declares it with an incident and a justification, the case says so and
// an alert is raised at once; carol's single approval (re-authenticated)
// makes it ready without a hold; after erin executes, the post-event
// review appears on the Reviews page of dave (iam), who took no part, and
// he completes it there. carol, who approved, is refused the review.

'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { withWorld } = require('./harness');
const C = require('./console');

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'ivan'];

async function declare(page, incident, justification) {
	await page.getByLabel('Incident reference').fill(incident);
	await page.getByLabel('Justification').fill(justification);
	await page.getByLabel(/I understand that this alerts/).check();
	const [r] = await Promise.all([page.waitForNavigation(),
		page.getByRole('button', { name: 'Declare break-glass' })
		    .click()]);
	return r;
}

async function review(page) {
	const rv = C.section(page, 'Post-event review');
	await rv.getByLabel(/^Confirmed/).check();
	await rv.getByLabel('What you checked')
	    .fill('IR-77 ticket and the exec confirmed by video call');
	return C.submit(page, rv, 'Record review');
}

test('break-glass: refused for the help desk, declared by incident ' +
    'response, alerted, no hold, reviewed', async () => {
	await withWorld({ users: USERS }, async (w) => {
		let r = await w.api('alice', 'POST', '/v1/cases', {
			subject: 'pwhite', action: 'mfa_reset', channel: 'phone',
			ticket: 'INC-12', reason_code: 'lost_device',
			justification: 'exec lost her phone' });
		assert.equal(r.status, 201, JSON.stringify(r.body));
		const id = r.body.id;
		assert.equal(r.body.tier, 'high');
		r = await w.api('bob', 'POST', `/v1/cases/${id}/evidence`, {
			method: 'callback_on_file', contact: '+1 555 0102',
			result: 'pass', reference: 'called back' });
		assert.equal(r.status, 201, JSON.stringify(r.body));

		// alice (help desk) is not offered break-glass: no button on
		// the case, the page says she cannot, and a hand-made post is
		// refused with the reason
		const alice = await C.signIn(w, await w.context(), 'alice');
		await C.gotoCase(alice, id);
		assert.equal(await alice.getByRole('link',
		    { name: /break-glass/i }).count(), 0,
		    'break-glass offered to the help desk');
		await alice.goto(`/cases/${id}/break-glass`);
		assert.equal(await alice.getByRole('button',
		    { name: 'Declare break-glass' }).count(), 0);
		assert.match(await alice.getByRole('note').first().innerText(),
		    /cannot declare break-glass/i);
		r = await C.postForm(alice, `/cases/${id}/break-glass`, {
			incident: 'IR-1', justification: 'hurry', confirm: 'yes' });
		assert.equal(r.status(), 403, 'break-glass by the help desk');
		const why = await C.alertText(alice);
		assert.ok(why, 'no alert explains the refusal');
		let c = await w.case('ivan', id);
		assert.equal(c.break_glass, null, JSON.stringify(c.break_glass));
		assert.ok(c.events.some((e) => e.kind === 'refused' &&
		    e.actor === 'alice'), 'the refusal is not on the timeline');

		// frank declares it
		const frank = await C.signIn(w, await w.context(), 'frank');
		await C.gotoCase(frank, id);
		await frank.getByRole('link', { name: /break-glass/i }).click();
		await frank.waitForURL(`**/cases/${id}/break-glass`);
		const text = await frank.locator('main').innerText();
		assert.match(text, /immediately/i);
		assert.match(text, /post-event review/i);
		// the confirmation box is required: without it nothing happens
		await frank.getByLabel('Incident reference').fill('IR-77');
		await frank.getByLabel('Justification')
		    .fill('exec locked out during incident');
		await frank.getByRole('button', { name: 'Declare break-glass' })
		    .click();
		assert.equal(new URL(frank.url()).pathname,
		    `/cases/${id}/break-glass`);
		r = await declare(frank, 'IR-77',
		    'exec locked out during incident');
		assert.ok(r.status() < 400, `frank's break-glass: ${r.status()}` +
		    ` ${await C.alertText(frank)}`);
		assert.equal(C.caseIdOf(frank), id);
		await assert.doesNotReject(frank.getByRole('note')
		    .filter({ hasText: /break-glass/i }).filter({ hasText:
		    'IR-77' }).waitFor(), 'the case page does not mark the ' +
		    'break-glass');
		c = await w.case('ivan', id);
		assert.equal(c.break_glass.by, 'frank');
		assert.equal(c.break_glass.incident, 'IR-77');
		assert.equal(c.requirements.approvals.count, 1);
		r = await w.api('carol', 'GET', '/v1/alerts');
		assert.equal(r.status, 200);
		assert.ok(r.body.alerts.some((a) => a.case === id ||
		    JSON.stringify(a).includes(id)), 'no alert for the ' +
		    'break-glass: ' + JSON.stringify(r.body));

		// carol's approval makes it ready at once (no hold)
		const carol = await C.signIn(w, await w.context(), 'carol');
		await C.gotoCase(carol, id);
		r = await C.decide(carol, { decision: 'approve',
			comment: 'incident confirmed', code: w.totp('carol') });
		assert.ok(r.status() < 400, `carol's approval: ${r.status()} ` +
		    (await C.alertText(carol)));
		c = await w.case('ivan', id);
		assert.equal(c.state, 'ready', JSON.stringify(c));

		// erin executes (API); the review is due
		r = await w.api('erin', 'POST', `/v1/cases/${id}/execute`, {
			connector: 'manual', note: 'factors removed',
			revoked: ['sessions'] });
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.equal(r.body.state, 'review');

		// carol approved, so she may not review it (invariant 4)
		await C.gotoCase(carol, id);
		if (await C.section(carol, 'Post-event review').count() > 0) {
			r = await review(carol);
			assert.equal(r.status(), 403, 'review by an approver');
			assert.match(await C.alertText(carol) || '',
			    /took no part/i);
		}

		// dave finds it on /reviews and completes it
		const dave = await C.signIn(w, await w.context(), 'dave');
		await dave.goto('/reviews');
		const due = dave.getByRole('table', { name: 'Due' });
		const link = due.getByRole('link', { name: id, exact: true });
		assert.equal(await link.count(), 1, 'the review is not due on ' +
		    '/reviews: ' + await dave.locator('main').innerText());
		await link.click();
		await dave.waitForURL(`**/cases/${id}`);
		r = await review(dave);
		assert.ok(r.status() < 400, `dave's review: ${r.status()} ` +
		    (await C.alertText(dave)));
		c = await w.case('ivan', id);
		assert.equal(c.state, 'closed', JSON.stringify(c));
		await dave.goto('/reviews');
		assert.equal(await dave.getByRole('link', { name: id,
		    exact: true }).count(), 0, 'a closed review is still listed');
	});
});
