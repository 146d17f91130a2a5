// refusals.test.js - what the console must refuse, seen from a browser:
// the requester approving her own case (invariant 1) answered with a
// visible explanation; a form posted without its CSRF token, or with a
// wrong one, refused with nothing changed; a session cookie that still
// works in another browser until sign-out, and not after.

'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { withWorld } = require('./harness');
const C = require('./console');

const USERS = ['alice', 'bob', 'erin', 'ivan'];

test("alice's approval of her own case is refused with a visible reason",
    async () => {
	await withWorld({ users: USERS }, async (w) => {
		const ctx = await w.context();
		const page = await C.signIn(w, ctx, 'alice');
		const id = await C.openCase(page, {
			subject: 'jsmith', action: 'password_reset',
			channel: 'phone', ticket: 'INC-7',
			reason_code: 'forgot_password',
			justification: 'forgot password, called from desk phone',
		});
		let c = await w.case('ivan', id);
		assert.equal(c.tier, 'standard', JSON.stringify(c));
		assert.equal(c.state, 'approving', JSON.stringify(c));
		assert.equal(c.requester, 'alice');

		// the page offers alice no decision on her own case, and
		// says why ...
		const dec = C.section(page, 'Decision');
		assert.equal(await dec.getByRole('button', { name: 'Approve' })
		    .count(), 0, 'the requester is offered an approval form');
		assert.match(await dec.innerText(),
		    /you requested this case, so you cannot approve/i);
		// ... and when she posts one anyway (a stale or hand-made
		// form), the case page comes back with the reason
		const resp = await C.postForm(page, `/cases/${id}/decide`, {
			decision: 'approve', comment: 'approving my own case',
		});
		assert.equal(resp.status(), 403,
		    'self-approval should answer 403 with the case page');
		assert.ok(new URL(page.url()).pathname.startsWith(`/cases/${id}`),
		    page.url());
		const alert = await C.alertText(page);
		assert.ok(alert, 'no role="alert" box after a refused ' +
		    'self-approval');
		assert.match(alert, /you requested[\s\S]*cannot approve/i, alert);
		await assertVisibleAlert(page);

		c = await w.case('ivan', id);
		assert.equal(c.state, 'approving', JSON.stringify(c));
		assert.deepEqual(c.approvals, []);
		assert.ok(c.events.some((e) => e.kind === 'refused' &&
		    e.actor === 'alice'), 'the refusal is not on the timeline: ' +
		    JSON.stringify(c.events));
		// and the timeline on the page says so too
		await C.gotoCase(page, id);
		const timeline = C.section(page, 'Timeline');
		const refusedRow = timeline.getByRole('listitem')
		    .filter({ hasText: /refused/i }).filter({ hasText: 'alice' });
		assert.ok(await refusedRow.count() >= 1,
		    'the page timeline shows no refusal by alice: ' +
		    await timeline.innerText());

		// bob may approve it
		const bctx = await w.context();
		const bpage = await C.signIn(w, bctx, 'bob');
		await C.gotoCase(bpage, id);
		const r = await C.decide(bpage, { decision: 'approve',
			comment: 'checked the ticket' });
		assert.ok(r.status() < 400, `bob's approval: ${r.status()}`);
		c = await w.case('ivan', id);
		assert.equal(c.state, 'ready', JSON.stringify(c));
		assert.equal(c.approvals[0].by, 'bob');
	});
});

async function assertVisibleAlert(page) {
	const a = page.getByRole('alert').first();
	assert.ok(await a.isVisible(), 'the alert box is not visible');
	const box = await a.boundingBox();
	assert.ok(box && box.width > 0 && box.height > 0, 'alert has no size');
}

const CSRF_REFUSED = /expired or did not come from twokey/i;

test('a form posted without its CSRF token, or with a wrong one, is ' +
    'refused and changes nothing', async () => {
	await withWorld({ users: USERS }, async (w) => {
		const ctx = await w.context();
		const page = await C.signIn(w, ctx, 'alice');
		const before = await w.api('ivan', 'GET', '/v1/cases');
		assert.equal(before.status, 200);
		const n = before.body.cases.length;

		for (const how of ['missing', 'wrong']) {
			await page.goto('/cases/new');
			await C.fillNewCase(page, { subject: 'jsmith',
				action: 'password_reset',
				justification: 'csrf ' + how });
			const tokens = await page.evaluate((h) => {
				const ins = document.querySelectorAll(
				    'form input[name="csrf"]');
				for (const i of ins) {
					if (i.closest('form')
					    .getAttribute('action') === '/logout')
						continue;
					if (h === 'missing')
						i.remove();
					else
						i.value = 'AAAA' + i.value.slice(4)
						    .split('').reverse().join('');
				}
				return ins.length;
			}, how);
			assert.ok(tokens >= 2, 'the page should carry a csrf ' +
			    'field in the new case form and the sign-out form');
			const [resp] = await Promise.all([
				page.waitForNavigation(),
				page.getByRole('button',
				    { name: 'Open case', exact: true }).click(),
			]);
			assert.equal(resp.status(), 403, `csrf ${how}`);
			assert.match(await page.locator('main').innerText(),
			    CSRF_REFUSED);
			const after = await w.api('ivan', 'GET', '/v1/cases');
			assert.equal(after.body.cases.length, n,
			    `a case was opened with the csrf token ${how}`);
		}
		// each refusal is an audit event naming alice
		const ev = await w.api('ivan', 'GET', '/v1/events?limit=1000');
		assert.equal(ev.status, 200, JSON.stringify(ev.body));
		const refused = ev.body.events.filter((e) =>
		    e.kind === 'console.csrf_refused');
		assert.equal(refused.length, 2, 'csrf refusals in the audit ' +
		    'log: ' + JSON.stringify(ev.body.events.map((e) => e.kind)));
		assert.ok(refused.every((e) => e.actor === 'alice'),
		    JSON.stringify(refused));
		// the session itself still works and the real form still does
		const id = await C.openCase(page, { subject: 'jsmith',
			action: 'password_reset', channel: 'phone',
			justification: 'with the token' });
		assert.ok(id);
		const after = await w.api('ivan', 'GET', '/v1/cases');
		assert.equal(after.body.cases.length, n + 1);
	});
});

test("a session cookie is usable from another browser until sign-out, " +
    'then not', async () => {
	await withWorld({ users: USERS }, async (w) => {
		const ctx = await w.context();
		const page = await C.signIn(w, ctx, 'alice');
		const cookies = await ctx.cookies();
		const sess = cookies.find((c) => c.name === 'tk_session');
		assert.ok(sess, 'no tk_session cookie after sign-in: ' +
		    JSON.stringify(cookies.map((c) => c.name)));
		assert.equal(sess.httpOnly, true, 'tk_session not HttpOnly');
		assert.equal(sess.sameSite, 'Strict');
		assert.equal(sess.expires, -1, 'tk_session should be a ' +
		    'session cookie (no Max-Age/Expires)');
		// the copied cookie works in a fresh browser (the control)
		const ctl = await w.context();
		await ctl.addCookies([sess]);
		const p2 = await ctl.newPage();
		let r = await p2.goto('/queues');
		assert.equal(new URL(p2.url()).pathname, '/queues');
		assert.equal(r.status(), 200);

		await Promise.all([
			page.waitForURL(/\/login/),
			page.getByRole('button', { name: 'Sign out', exact: true })
			    .click(),
		]);
		const left = (await ctx.cookies()).find((c) =>
		    c.name === 'tk_session' && c.value);
		assert.ok(!left, 'sign-out left the session cookie in place');

		const thief = await w.context();
		await thief.addCookies([sess]);
		const p3 = await thief.newPage();
		r = await p3.goto('/audit');
		const u = new URL(p3.url());
		assert.equal(u.pathname, '/login',
		    `old cookie still reaches ${p3.url()}`);
		assert.equal(u.searchParams.get('next'), '/audit');
		assert.equal(await p3.getByRole('button', { name: 'Sign out' })
		    .count(), 0, 'the sign-in page shows a signed-in user');
		// and the control browser's copy is out too
		await p2.goto('/queues');
		assert.equal(new URL(p2.url()).pathname, '/login');
	});
});
