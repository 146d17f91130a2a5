// a11y.test.js - axe-core on every console page: the sign-in page (fresh
// and after a failed attempt), the queues, a case (as an executor, as a
// verifier and approver, with a refusal's alert), the new case form (with
// its live preview), break-glass, reviews, audit (also as an auditor, with
// "Verify now" and after it) and the policy page (with an explanation). No
// serious or critical violation may remain; each is printed with where it
// is. Also checks what the issue asks of every page: a
// Content-Security-Policy without inline script, a <main> landmark, an
// <h1>, and form fields that all have labels.
//
// With TWOKEY_SCREENSHOTS=1 it saves docs/img/break-glass.png.

'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');
const { withWorld, checkA11y, screenshot } = require('./harness');
const C = require('./console');

const USERS = ['alice', 'bob', 'frank', 'ivan'];

async function pageChecks(page, resp, name) {
	const csp = resp.headers()['content-security-policy'] || '';
	assert.match(csp, /script-src 'self'/, `${name}: CSP ${csp}`);
	assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/,
	    `${name}: CSP ${csp}`);
	assert.equal(await page.locator('main').count(), 1,
	    `${name}: one <main>`);
	assert.ok(await page.locator('h1').count() >= 1,
	    `${name}: no <h1>`);
	// every visible field has an accessible name (axe checks the same;
	// this says which field)
	const unnamed = await page.evaluate(() => {
		const out = [];
		for (const el of document.querySelectorAll(
		    'input, select, textarea')) {
			if (el.type === 'hidden' || el.type === 'submit')
				continue;
			const id = el.id;
			const lab = (id && document.querySelector(
			    `label[for="${CSS.escape(id)}"]`)) ||
			    el.closest('label');
			if (!lab && !el.getAttribute('aria-label') &&
			    !el.getAttribute('aria-labelledby'))
				out.push(el.name || el.outerHTML.slice(0, 80));
		}
		return out;
	});
	assert.deepEqual(unnamed, [], `${name}: fields without a label`);
	await checkA11y(page, name);
}

// The new case form's live preview (console.js fetches the fragment as
// the fields change): once it shows the tier, the page passes axe still.
async function previewChecks(page) {
	await C.fillNewCase(page, { subject: 'radmin', action: 'mfa_reset' });
	await page.getByLabel('Subject (account id)').press('Tab');
	await assert.doesNotReject(page.locator('#preview')
	    .getByText(/critical/i).first().waitFor({ timeout: 5000 }),
	    'the live preview does not show the tier for radmin/mfa_reset');
	await checkA11y(page, 'new case (with preview)');
}

test('axe: no serious or critical violations on any console page',
    async () => {
	await withWorld({ users: USERS }, async (w) => {
		const open = await w.api('alice', 'POST', '/v1/cases', {
			subject: 'radmin', action: 'mfa_reset', channel: 'phone',
			ticket: 'INC-1042', reason_code: 'lost_device',
			justification: 'caller says she lost her phone',
		});
		assert.equal(open.status, 201, JSON.stringify(open.body));
		const id = open.body.id;

		const anon = await w.context();
		const lp = await anon.newPage();
		let r = await lp.goto('/login');
		assert.equal(r.status(), 200);
		await pageChecks(lp, r, 'login');
		// a failed sign-in: the error is announced and the page passes
		await lp.getByLabel('Login', { exact: true }).fill('frank');
		await lp.getByLabel('Password', { exact: true })
		    .fill('not the password');
		await lp.getByLabel('Code from your authenticator')
		    .fill('000000');
		[r] = await Promise.all([lp.waitForNavigation(),
			lp.getByRole('button', { name: 'Sign in', exact: true })
			    .click()]);
		assert.equal(r.status(), 401);
		assert.ok(await C.alertText(lp), 'failed sign-in: no alert');
		await pageChecks(lp, r, 'login (failed)');

		const ctx = await w.context();
		const page = await C.signIn(w, ctx, 'frank');
		const pages = [
			['queues', '/queues'],
			['queues (mfa, needs me)', '/queues?family=mfa&mine=1'],
			['case', '/cases/' + id],
			['new case', '/cases/new'],
			['break-glass', `/cases/${id}/break-glass`],
			['reviews', '/reviews'],
			['audit', '/audit'],
			['policy', '/policy'],
			['policy explain', '/policy?subject=pwhite&' +
			    'action=password_reset&signal=new_device'],
		];
		const failures = [];
		for (const [name, url] of pages) {
			r = await page.goto(url);
			try {
				assert.equal(r.status(), 200, `${name}: ${url}`);
				await pageChecks(page, r, name);
				if (name === 'new case')
					await previewChecks(page);
			} catch (e) {
				failures.push(e.message);
			}
			if (name === 'break-glass')
				await screenshot(page, 'break-glass');
		}

		// the case as a verifier and approver sees it (evidence forms,
		// decision with the re-authentication code), and after a
		// refused action (the alert box)
		const bctx = await w.context();
		const bob = await C.signIn(w, bctx, 'bob');
		r = await bob.goto('/cases/' + id);
		try {
			assert.equal(await C.section(bob, 'Record evidence')
			    .count(), 1, 'bob is offered no evidence form');
			assert.equal(await C.section(bob, 'Decision').count(), 1,
			    'bob is offered no decision form');
			await pageChecks(bob, r, 'case (verifier, approver)');
			r = await C.decide(bob, { decision: 'approve',
				comment: 'no code' });
			assert.ok(r.status() >= 400, 'critical approval without ' +
			    're-authentication accepted');
			assert.ok(await C.alertText(bob), 'no alert');
			await pageChecks(bob, r, 'case (refused action)');
		} catch (e) {
			failures.push(e.message);
		}

		// the audit page as an auditor sees it: the "Verify now"
		// button, then the result it leaves and the notice
		const ictx = await w.context();
		const ivan = await C.signIn(w, ictx, 'ivan');
		try {
			r = await ivan.goto('/audit');
			const verify = ivan.getByRole('button',
			    { name: 'Verify now', exact: true });
			assert.equal(await verify.count(), 1,
			    'ivan is offered no "Verify now"');
			await pageChecks(ivan, r, 'audit (auditor)');
			[r] = await Promise.all([ivan.waitForNavigation(),
				verify.click()]);
			assert.equal(r.status(), 200, 'after "Verify now"');
			assert.match(await ivan.locator('#verification')
			    .innerText(), /Latest verification: intact/);
			await pageChecks(ivan, r, 'audit (verified)');
		} catch (e) {
			failures.push(e.message);
		}
		assert.deepEqual(failures, [], failures.join('\n\n'));
	});
});

// Presses Tab until the focused element satisfies pred (max presses);
// returns what each stop looked like. Every stop must show a focus ring.
async function tabTo(page, pred, max = 40) {
	const stops = [];
	for (let i = 0; i < max; i++) {
		await page.keyboard.press('Tab');
		const f = await page.evaluate(() => {
			const el = document.activeElement;
			if (!el || el === document.body)
				return null;
			const cs = getComputedStyle(el);
			return {
				tag: el.tagName.toLowerCase(), id: el.id,
				name: el.getAttribute('name') || '',
				text: (el.innerText || el.value || '').trim()
				    .slice(0, 40),
				ring: (cs.outlineStyle !== 'none' &&
				    parseFloat(cs.outlineWidth) > 0) ||
				    cs.boxShadow !== 'none',
			};
		});
		if (f === null)
			continue;
		stops.push(f);
		assert.ok(f.ring, `no visible focus on ${JSON.stringify(f)}`);
		if (pred(f))
			return stops;
	}
	assert.fail('not reachable by Tab; stops: ' + JSON.stringify(stops));
}

test('keyboard: skip link, sign-in and the case page by Tab and Enter',
    async () => {
	await withWorld({ users: USERS }, async (w) => {
		const open = await w.api('alice', 'POST', '/v1/cases', {
			subject: 'jsmith', action: 'password_reset',
			channel: 'phone', justification: 'forgot' });
		assert.equal(open.status, 201, JSON.stringify(open.body));
		const id = open.body.id;
		const ctx = await w.context();
		const page = await ctx.newPage();
		await page.goto('/login');
		// the first stop is the skip link
		const first = await tabTo(page, () => true);
		assert.match(first[0].text, /skip to main content/i);
		await tabTo(page, (f) => f.id === 'login');
		await page.keyboard.type('frank');
		await tabTo(page, (f) => f.id === 'password');
		await page.keyboard.type(w.passwords.frank);
		await tabTo(page, (f) => f.id === 'code');
		await page.keyboard.type(w.totp('frank'));
		await Promise.all([page.waitForURL('**/queues'),
			page.keyboard.press('Enter')]);

		// from the queue to the case, by keyboard
		await tabTo(page, (f) => f.tag === 'a' && f.text === id, 80);
		await Promise.all([page.waitForURL(`**/cases/${id}`),
			page.keyboard.press('Enter')]);
		// and to the decision's comment field (frank may approve)
		await tabTo(page, (f) => f.id === 'dec-comment', 80);
		await page.keyboard.type('approved from the keyboard');
		await tabTo(page, (f) => f.tag === 'button' &&
		    f.text === 'Approve');
		const [r] = await Promise.all([page.waitForNavigation(),
			page.keyboard.press('Enter')]);
		assert.ok(r.status() < 400, `keyboard approval: ${r.status()}`);
		const c = await w.case('ivan', id);
		assert.deepEqual(c.approvals.map((a) => a.by), ['frank']);
		assert.equal(c.approvals[0].comment,
		    'approved from the keyboard');
	});
});
