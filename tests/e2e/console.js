// console.js - how the browser tests work the console: signing in, opening
// a case through the New case form, recording evidence, deciding and
// executing, all through accessible locators (labels, roles, names) as a
// person with a screen reader would find them. Every locator the tests
// depend on is here, so a change to the templates is mended in one place.
//
// Owns: nothing but these helpers.

'use strict';

const assert = require('node:assert/strict');

// Signs login in through /login (password + TOTP) in ctx; returns the page
// left on the queues (or on next).
async function signIn(w, ctx, login, opts = {}) {
	const page = opts.page || await ctx.newPage();
	const next = opts.next ? '?next=' + encodeURIComponent(opts.next) : '';
	await page.goto('/login' + next);
	await page.getByLabel('Login', { exact: true }).fill(login);
	await page.getByLabel('Password', { exact: true })
	    .fill(w.passwords[login]);
	await page.getByLabel('Code from your authenticator')
	    .fill(w.totp(login));
	const [resp] = await Promise.all([
		page.waitForNavigation(),
		page.getByRole('button', { name: 'Sign in', exact: true })
		    .click(),
	]);
	if (new URL(page.url()).pathname.startsWith('/login'))
		assert.fail(`${login} could not sign in (${resp.status()}): ` +
		    await alertText(page));
	return page;
}

// The case id from a /cases/{id} URL.
function caseIdOf(page) {
	const m = new URL(page.url()).pathname.match(/^\/cases\/([^/?#]+)$/);
	assert.ok(m, `not on a case page: ${page.url()}`);
	return decodeURIComponent(m[1]);
}

// Fills the New case form (the page is on /cases/new).
async function fillNewCase(page, f) {
	await page.getByLabel('Subject (account id)').fill(f.subject);
	await page.getByLabel('Action', { exact: true }).selectOption(f.action);
	if (f.channel)
		await page.getByLabel('Channel the request came in by')
		    .selectOption(f.channel);
	if (f.ticket)
		await page.getByLabel('Ticket or incident reference')
		    .fill(f.ticket);
	if (f.reason_code)
		await page.getByLabel('Reason code').selectOption(f.reason_code);
	if (f.justification)
		await page.getByLabel('Justification').fill(f.justification);
	for (const sig of f.signals || [])
		await page.getByLabel(sig, { exact: true }).check();
}

// Opens a case through /cases/new; returns its id (page on the case).
async function openCase(page, f) {
	await page.goto('/cases/new');
	await fillNewCase(page, f);
	await Promise.all([
		page.waitForURL(/\/cases\/(?!new)[^/]+$/),
		page.getByRole('button', { name: 'Open case', exact: true })
		    .click(),
	]);
	return caseIdOf(page);
}

async function gotoCase(page, id) {
	const r = await page.goto('/cases/' + encodeURIComponent(id));
	assert.equal(r.status(), 200, `GET /cases/${id}`);
	return r;
}

// A card of the case page (a <section> named by its heading).
function section(page, name) {
	return page.getByRole('region', { name });
}

// Records evidence on the case page the page is on.
async function recordEvidence(page, f) {
	const s = section(page, 'Record evidence');
	await s.getByLabel('Method', { exact: true }).selectOption(f.method);
	if (f.contact)
		await s.getByLabel('Contact on file used')
		    .selectOption(f.contact);
	if (f.result)
		await s.getByLabel(f.result === 'fail' ? 'Failed' : 'Passed',
		    { exact: true }).check();
	if (f.reference)
		await s.getByLabel('Reference', { exact: true })
		    .fill(f.reference);
	return submit(page, s, 'Record evidence');
}

// Enters the code the subject reads from a registered factor.
async function totpEvidence(page, code) {
	const s = section(page, 'Record evidence');
	await s.getByLabel('Code the subject reads out').fill(code);
	return submit(page, s, 'Check code');
}

// Approves (or denies) with a comment; code is the TOTP re-authentication
// the high and critical tiers ask for.
async function decide(page, f) {
	const s = section(page, 'Decision');
	if (f.comment)
		await s.getByLabel('Comment', { exact: true }).fill(f.comment);
	if (f.code)
		await s.getByLabel('Your authenticator code').fill(f.code);
	return submit(page, s, f.decision === 'deny' ? 'Deny' : 'Approve');
}

async function execute(page, f = {}) {
	const s = section(page, 'Execute');
	if (f.note)
		await s.getByLabel(/^Note/).fill(f.note);
	for (const r of f.revoked || [])
		await s.getByLabel(r, { exact: true }).check();
	return submit(page, s, 'Execute');
}

// Clicks a form's submit button and waits for the answer; returns the
// response of the navigation (status: 200/303 target, or 4xx page).
async function submit(page, scope, name) {
	const [resp] = await Promise.all([
		page.waitForNavigation(),
		scope.getByRole('button', { name, exact: true }).click(),
	]);
	return resp;
}

// Posts a form the page does not offer (fields plus the session's CSRF
// token, taken from the sign-out form) as a browser would, and waits for
// the answer: what a stale page or a hand-made form sends.
async function postForm(page, action, fields) {
	const [resp] = await Promise.all([
		page.waitForNavigation(),
		page.evaluate(([a, f]) => {
			const tok = document.querySelector(
			    'form[action="/logout"] input[name="csrf"]');
			const form = document.createElement('form');
			form.method = 'post';
			form.action = a;
			const all = { ...f, csrf: tok ? tok.value : '' };
			for (const [k, v] of Object.entries(all)) {
				const i = document.createElement('input');
				i.type = 'hidden';
				i.name = k;
				i.value = v;
				form.appendChild(i);
			}
			document.body.appendChild(form);
			form.submit();
		}, [action, fields]),
	]);
	return resp;
}

// The visible alert box (role="alert") on the page, or null.
async function alertText(page) {
	const a = page.getByRole('alert');
	if (await a.count() === 0)
		return null;
	return (await a.first().innerText()).trim();
}

module.exports = {
	signIn, fillNewCase, openCase, gotoCase, caseIdOf, section, recordEvidence,
	totpEvidence, decide, execute, submit, postForm, alertText,
};
