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
	await page.getByLabel(/^(login|user ?name|staff login)/i).fill(login);
	await page.getByLabel(/^password/i).fill(w.passwords[login]);
	await page.getByLabel(/code/i).fill(w.totp(login));
	await Promise.all([
		page.waitForURL((u) => !u.pathname.startsWith('/login')),
		page.getByRole('button', { name: /^sign in$/i }).click(),
	]);
	return page;
}

// The case id from a /cases/{id} URL.
function caseIdOf(page) {
	const m = new URL(page.url()).pathname.match(/^\/cases\/([^/?#]+)$/);
	assert.ok(m, `not on a case page: ${page.url()}`);
	return decodeURIComponent(m[1]);
}

// Opens a case through /cases/new; returns its id (page on the case).
async function openCase(page, f) {
	await page.goto('/cases/new');
	await page.getByLabel(/^subject/i).fill(f.subject);
	await page.getByLabel(/^action/i).selectOption(f.action);
	if (f.channel)
		await page.getByLabel(/^channel/i).selectOption(f.channel);
	if (f.ticket)
		await page.getByLabel(/ticket/i).fill(f.ticket);
	if (f.reason_code)
		await page.getByLabel(/^reason/i).selectOption(f.reason_code);
	if (f.justification)
		await page.getByLabel(/^justification/i).fill(f.justification);
	await Promise.all([
		page.waitForURL(/\/cases\/(?!new)[^/]+$/),
		page.getByRole('button', { name: /^open (the )?case$/i }).click(),
	]);
	return caseIdOf(page);
}

async function gotoCase(page, id) {
	const r = await page.goto('/cases/' + encodeURIComponent(id));
	assert.equal(r.status(), 200, `GET /cases/${id}`);
	return r;
}

// The form (region) for one case action, found by its accessible name.
function section(page, name) {
	return page.getByRole('form', { name });
}

// Records evidence on the case page the page is on.
async function recordEvidence(page, f) {
	const s = section(page, /evidence/i);
	await s.getByLabel(/^method/i).selectOption(f.method);
	if (f.contact)
		await s.getByLabel(/^contact/i).selectOption(f.contact);
	if (f.result)
		await s.getByLabel(/^result/i).selectOption(f.result);
	if (f.reference)
		await s.getByLabel(/^reference/i).fill(f.reference);
	return submit(page, s, /^record evidence$/i);
}

// Enters a subject's TOTP code as registered-factor evidence.
async function totpEvidence(page, code) {
	const s = section(page, /code from the subject|registered factor|totp/i);
	await s.getByLabel(/code/i).fill(code);
	return submit(page, s, /^(check|verify|record) code$/i);
}

// Approves (or denies) with a comment; code is the TOTP re-authentication
// the high and critical tiers ask for.
async function decide(page, f) {
	const s = section(page, /decision|approve/i);
	if (f.decision === 'deny')
		await s.getByLabel(/^deny/i).check();
	else
		await s.getByLabel(/^approve/i).check();
	if (f.comment)
		await s.getByLabel(/^comment/i).fill(f.comment);
	if (f.code)
		await s.getByLabel(/code/i).fill(f.code);
	return submit(page, s, /^(submit decision|decide|approve|deny)$/i);
}

async function execute(page, f = {}) {
	const s = section(page, /execute/i);
	if (f.note)
		await s.getByLabel(/^note/i).fill(f.note);
	for (const r of f.revoked || [])
		await s.getByLabel(new RegExp(r, 'i')).check();
	return submit(page, s, /^execute/i);
}

// Clicks a form's submit button and waits for the answer; returns the
// response of the navigation (status: 200/303 target, or 4xx page).
async function submit(page, scope, name) {
	const [resp] = await Promise.all([
		page.waitForNavigation(),
		scope.getByRole('button', { name }).click(),
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
	signIn, openCase, gotoCase, caseIdOf, section, recordEvidence,
	totpEvidence, decide, execute, submit, alertText,
};
