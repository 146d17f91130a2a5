/*
 * decision.js - twokey benchmark: the approval decision that
 * bench/bench_decision.c measures, written in Cedar and evaluated with
 * @cedar-policy/cedar-wasm (pinned in package.json / package-lock.json),
 * for the comparison asked for in issue 2 ("Speed").
 *
 * The decision: carol (security) approves case c_bench for radmin (labels
 * [admin], so tier "critical"), opened by alice (helpdesk); bob (helpdesk)
 * already approved. The policy encodes
 *   - approver != requester                       (invariant 1)
 *   - approver != subject                         (invariant 5)
 *   - approver's function may approve             (policy `functions:`)
 *   - tier critical (subject labels) => an approver from security/pam/ir
 *     and from outside the requester's support chain (other function and
 *     team), distinct functions                   (invariants 2, 3)
 *   - not already approved by this person         (invariant 2)
 *
 * Usage: node decision.js [--seconds S] [--json]
 * Prints µs/op for isAuthorized (policy text passed on every call, the
 * plain API) and for statefulIsAuthorized (policy set pre-parsed once).
 * Each figure is the median of 5 timed runs after a warm-up.
 */
'use strict';

const cedar = require('@cedar-policy/cedar-wasm/nodejs');

const POLICIES = `
// Anyone whose function may approve, who is neither the requester nor
// the subject and has not approved yet, may approve a case.
permit (principal is Staff, action == Action::"approve", resource is Case)
when {
  principal != resource.requester &&
  principal.account != resource.subject &&
  ["helpdesk", "iam", "security", "pam", "ir", "owner"].contains(principal.function) &&
  !resource.approvedBy.contains(principal)
};

// Tier critical (admin accounts, production NHIs): the approvals must come
// from distinct functions, one of them from security/pam/ir, one from
// outside the requester's support chain. The approver either brings what
// is still missing or the earlier approvals already covered it.
forbid (principal is Staff, action == Action::"approve", resource is Case)
when {
  (resource.subject.labels.contains("admin") ||
   (resource.subject.kind == "nhi" && resource.subject.labels.contains("production")))
}
unless {
  !resource.approvedFunctions.contains(principal.function) &&
  (["security", "pam", "ir"].contains(principal.function) ||
   resource.approvedFunctions.containsAny(["security", "pam", "ir"])) &&
  ((principal.function != resource.requester.function &&
    principal.team != resource.requester.team &&
    !principal.managers.contains(resource.requester) &&
    !resource.requester.managers.contains(principal)) ||
   resource.outsideChainApprovals >= 1)
};
`;

function staff(login, fn, team, managers) {
	return {
		uid: { type: 'Staff', id: login },
		attrs: {
			function: fn,
			team: team,
			account: { __entity: { type: 'Subject', id: login } },
			managers: managers.map((m) => ({ __entity: { type: 'Staff', id: m } })),
		},
		parents: [],
	};
}

function subject(id, kind, labels) {
	return { uid: { type: 'Subject', id: id }, attrs: { kind: kind, labels: labels }, parents: [] };
}

const ENTITIES = [
	staff('alice', 'helpdesk', 'service-desk', ['erin']),
	staff('bob', 'helpdesk', 'service-desk', ['erin']),
	staff('erin', 'helpdesk', 'service-desk', []),
	staff('carol', 'security', 'secops', []),
	subject('radmin', 'person', ['admin']),
	subject('carol', 'person', []),
	subject('alice', 'person', []),
	{
		uid: { type: 'Case', id: 'c_bench' },
		attrs: {
			requester: { __entity: { type: 'Staff', id: 'alice' } },
			subject: { __entity: { type: 'Subject', id: 'radmin' } },
			approvedBy: [{ __entity: { type: 'Staff', id: 'bob' } }],
			approvedFunctions: ['helpdesk'],
			outsideChainApprovals: 0,
		},
		parents: [],
	},
];

function call(principal) {
	return {
		principal: { type: 'Staff', id: principal },
		action: { type: 'Action', id: 'approve' },
		resource: { type: 'Case', id: 'c_bench' },
		context: {},
		policies: { staticPolicies: POLICIES },
		entities: ENTITIES,
	};
}

function check(answer, want, who) {
	if (answer.type !== 'success')
		throw new Error(who + ': ' + JSON.stringify(answer.errors));
	if (answer.response.decision !== want)
		throw new Error(who + ': decision ' + answer.response.decision + ', want ' + want);
}

function timeRun(fn, seconds) {
	let n = 0;
	const t0 = process.hrtime.bigint();
	const limit = t0 + BigInt(Math.round(seconds * 1e9));
	let now = t0;
	while (now < limit) {
		for (let i = 0; i < 100; i++)
			fn();
		n += 100;
		now = process.hrtime.bigint();
	}
	return Number(now - t0) / 1000 / n; /* µs per op */
}

function median(xs) {
	const s = xs.slice().sort((a, b) => a - b);
	return s[Math.floor(s.length / 2)];
}

function main() {
	let seconds = 1.0;
	let asJson = false;
	for (let i = 2; i < process.argv.length; i++) {
		if (process.argv[i] === '--seconds')
			seconds = Number(process.argv[++i]);
		else if (process.argv[i] === '--json')
			asJson = true;
		else
			throw new Error('usage: node decision.js [--seconds S] [--json]');
	}
	if (!(seconds > 0))
		throw new Error('--seconds must be positive');

	/* Correctness first: the same answers the twokey engine gives. */
	const good = call('carol');
	check(cedar.isAuthorized(good), 'allow', 'carol approves');
	check(cedar.isAuthorized(call('alice')), 'deny', 'requester approves');
	check(cedar.isAuthorized(call('bob')), 'deny', 'bob approves twice');
	check(cedar.isAuthorized(call('erin')), 'deny', 'erin, same chain, no security');

	const pre = cedar.preparsePolicySet('twokey', { staticPolicies: POLICIES });
	if (pre.type !== 'success')
		throw new Error('preparse: ' + JSON.stringify(pre.errors));
	const stateful = {
		principal: good.principal, action: good.action, resource: good.resource,
		context: {}, preparsedPolicySetId: 'twokey', entities: ENTITIES,
	};
	check(cedar.statefulIsAuthorized(stateful), 'allow', 'stateful carol');

	const plain = () => cedar.isAuthorized(good);
	const prep = () => cedar.statefulIsAuthorized(stateful);
	timeRun(plain, Math.min(1, seconds)); /* warm-up: JIT and wasm tiers */
	timeRun(prep, Math.min(1, seconds));
	const runs = { isAuthorized: [], statefulIsAuthorized: [] };
	for (let r = 0; r < 5; r++) {
		runs.isAuthorized.push(timeRun(plain, seconds / 5));
		runs.statefulIsAuthorized.push(timeRun(prep, seconds / 5));
	}
	const out = {
		cedar: cedar.getCedarVersion(),
		sdk: cedar.getCedarSDKVersion(),
		node: process.version,
		is_authorized_us: median(runs.isAuthorized),
		stateful_is_authorized_us: median(runs.statefulIsAuthorized),
	};
	if (asJson) {
		process.stdout.write(JSON.stringify(out) + '\n');
		return;
	}
	console.log('cedar ' + out.cedar + ' (cedar-wasm ' + out.sdk + ', node ' + out.node + ')');
	console.log('isAuthorized (policy text each call): ' + out.is_authorized_us.toFixed(1) + ' µs/op');
	console.log('statefulIsAuthorized (pre-parsed):    ' + out.stateful_is_authorized_us.toFixed(1) + ' µs/op');
}

main();
