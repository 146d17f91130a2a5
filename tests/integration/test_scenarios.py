"""test_scenarios.py - the issue's "what must hold" scenarios against a
running server with the demo org and policy (examples/demo/)."""

from harness import (HOUR, MINUTE, assert_seq_increasing, event_text,
                     events_of, expect_error, missing_groups, missing_of,
                     parse_time)

RADMIN_PHONE = "+1 555 0103"
RADMIN_EMAIL = "radmin@example.com"
JSMITH_PHONE = "+1 555 0101"
PWHITE_PHONE = "+1 555 0102"
ALICE_PHONE = "+1 555 0201"


def _open_critical(ctx):
    c = ctx.open_case("alice", "radmin", "mfa_reset", channel="phone",
                      ticket="INC-1042", reason_code="lost_device",
                      justification="caller says she lost her phone")
    assert c["tier"] == "critical", c
    assert c["queue"] == "mfa", c
    return c


def _critical_with_evidence(ctx, c=None):
    if c is None:
        c = _open_critical(ctx)
    cid = c["id"]
    _, c = ctx.evidence("alice", cid, "callback_on_file", RADMIN_PHONE,
                        reference="called back the number on file")
    assert c["state"] == "verifying", c  # one of two records
    if "radmin" not in getattr(ctx, "factors", {}):
        ctx.enroll("radmin")
    # the caller reads the code from radmin's enrolled authenticator
    _, c = ctx.totp_evidence("bob", cid, "radmin")
    assert c["state"] == "approving", c
    return c


def test_standard_password_reset(ctx):
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-1",
                      reason_code="forgot_password",
                      justification="forgot password")
    cid = c["id"]
    assert c["tier"] == "standard", c
    assert c["queue"] == "password", c
    assert c["requester"] == "alice", c
    assert c["state"] == "approving", c  # no evidence needed, 1 approval
    assert c["subject"] == "jsmith" and c["action"] == "password_reset", c
    assert c["rule"]["tier"] == "standard" and c["rule"]["owner"] == "dave", c
    assert c["requirements"]["approvals"]["count"] == 1, c
    ap = missing_of(c, "approval")
    assert ap, "an approval should be missing: %r" % c["missing"]
    elig = set().union(*[set(x["eligible"]) for x in ap])
    assert "bob" in elig and "erin" in elig, ap
    for nobody in ("alice", "ivan", "olivia", "henry", "jsmith"):
        assert nobody not in elig, "%s cannot approve: %r" % (nobody, ap)

    # invariant 1: the requester never approves their own case
    err = expect_error(ctx.decide("alice", cid, expect=None), 403,
                       "sod_violation", invariant=1, what="self-approval")
    c = ctx.case("alice", cid)
    assert c["state"] == "approving" and c["approvals"] == [], c

    _, c = ctx.decide("bob", cid, comment="looks fine")
    assert c["state"] == "ready", c
    assert c["approvals"][0]["by"] == "bob" and c["approvals"][0]["valid"], c
    assert "approval" not in missing_groups(c), c

    # invariant 4: an approver cannot execute
    expect_error(ctx.execute("bob", cid, revoked=["sessions"], expect=None),
                 403, "sod_violation", invariant=4, what="approver executes")

    _, c = ctx.execute("erin", cid, note="reset in AD, temp password "
                       "sent to phone on file", revoked=["sessions"])
    assert c["state"] == "executed", c
    assert c["execution"]["by"] == "erin", c
    assert c["execution"]["connector"] == "manual", c
    assert "sessions" in c["execution"]["revoked"], c
    assert c["review"] is None, c

    c = ctx.case("ivan", cid)
    assert_seq_increasing(c)
    evs = c["events"]
    assert evs[0]["kind"] == "case.opened" and evs[0]["actor"] == "alice", evs
    refused = events_of(c, "refused", "alice")
    assert refused, "alice's refused approval is not on the timeline: %r" % evs
    assert any("sod" in event_text(e) or "invariant" in event_text(e)
               or "own" in event_text(e) for e in refused), refused
    assert events_of(c, "refused", "bob"), "bob's refused execute: %r" % evs
    actors = [(e["actor"], e["kind"]) for e in evs]
    assert any(a == "bob" and "approv" in k for a, k in actors), actors
    assert any(a == "erin" and "execut" in k for a, k in actors), actors
    # every step in order: opened < alice refused < bob approval < erin
    i_ref = evs.index(refused[0])
    i_bob = next(i for i, e in enumerate(evs)
                 if e["actor"] == "bob" and "approv" in e["kind"])
    i_exe = next(i for i, e in enumerate(evs)
                 if e["actor"] == "erin" and "execut" in e["kind"])
    assert 0 < i_ref < i_bob < i_exe, actors
    assert err["message"]


def test_critical_mfa_reset_dual_approval_and_hold(ctx):
    c = _open_critical(ctx)
    cid = c["id"]
    assert c["state"] == "verifying", c
    assert c["requirements"]["ticket"] is True, c
    assert c["requirements"]["evidence"]["count"] == 2, c
    assert "evidence" in missing_groups(c), c

    c = _critical_with_evidence(ctx, c)
    assert "evidence" not in missing_groups(c), c
    assert all(e["valid"] for e in c["evidence"]), c

    _, c = ctx.decide("bob", cid)
    assert c["state"] == "approving", c
    _, c = ctx.decide("erin", cid)
    assert c["state"] == "approving", c
    ap = missing_of(c, "approval")
    assert ap, c["missing"]
    text = " ".join(x["need"].lower() for x in ap)
    assert "security" in text and "pam" in text and "ir" in text, ap
    assert "outside" in text and "support chain" in text, ap
    need_fn = [x for x in ap if "security" in x["need"].lower()]
    need_out = [x for x in ap if "outside" in x["need"].lower()]
    for x in need_fn + need_out:
        assert "carol" in x["eligible"], x
        for nobody in ("alice", "bob", "erin", "ivan", "olivia"):
            assert nobody not in x["eligible"], (nobody, x)
    for x in need_fn:
        assert "frank" in x["eligible"], x
        assert "dave" not in x["eligible"], x  # iam is not security/pam/ir
    assert c["hold_until"] is None, c

    _, c = ctx.decide("carol", cid, comment="verified with secops")
    assert c["state"] == "on_hold", c
    assert c["hold_until"], c
    hold_until = parse_time(c["hold_until"])
    last_ap = max(parse_time(a["at"]) for a in c["approvals"])
    assert abs(hold_until - (last_ap + 4 * HOUR)) <= 5, (c["hold_until"],
                                                        c["approvals"])
    assert "hold" in missing_groups(c), c

    # execute during the hold: 409 with the hold's end
    err = expect_error(ctx.execute("frank", cid, expect=None), 409,
                       "wrong_state", what="execute during hold")
    assert err.get("state") == "on_hold", err
    assert err.get("hold_until") == c["hold_until"], err

    ctx.advance(4 * HOUR + 2 * MINUTE)
    c = ctx.case("frank", cid)
    assert c["state"] == "ready", c
    # nobody who verified or approved can execute (invariant 4); carol's
    # function has no execute capability either way
    for who in ("alice", "bob", "erin"):
        expect_error(ctx.execute(who, cid, expect=None), 403,
                     "sod_violation", invariant=4,
                     what="%s executes after verifying/approving" % who)
    st, body = ctx.execute("carol", cid, expect=None)
    assert st == 403 and body["error"]["code"] in ("sod_violation",
                                                   "forbidden"), (st, body)
    c = ctx.case("frank", cid)
    assert c["state"] == "ready", c

    _, c = ctx.execute("frank", cid, note="MFA factors removed in IdP",
                       revoked=["sessions", "tokens"])
    assert c["state"] == "review", c  # critical has post_review: 24h
    assert c["execution"]["by"] == "frank", c
    assert sorted(c["execution"]["revoked"]) == ["sessions", "tokens"], c
    assert c["execution"].get("revoke_pending") in ([], None), c
    due = parse_time(c["review"]["due"])
    at = parse_time(c["execution"]["at"])
    assert abs(due - (at + 24 * HOUR)) <= 5, c["review"]
    assert "review" in missing_groups(c), c

    c = ctx.case("ivan", cid)
    assert_seq_increasing(c)
    for who in ("alice", "bob", "erin"):
        assert events_of(c, "refused", who), (who, c["events"])
    st, lst = ctx.api("ivan", "GET", "/v1/cases?state=review")
    assert st == 200 and any(x["id"] == cid for x in lst["cases"]), lst


def test_critical_missing_execution_revocation_is_reported(ctx):
    """Revocations the policy asks for but the executor did not confirm are
    shown as pending and raise an alert (invariant 11's bookkeeping)."""
    c = _critical_with_evidence(ctx)
    cid = c["id"]
    ctx.decide("bob", cid)
    _, c = ctx.decide("carol", cid)
    assert c["state"] == "on_hold", c
    ctx.advance(4 * HOUR + MINUTE)
    _, c = ctx.execute("frank", cid, revoked=["sessions"])
    assert c["execution"]["revoke_pending"] == ["tokens"], c["execution"]
    c = ctx.case("ivan", cid)
    assert any(e["alert"] and "tokens" in event_text(e)
               for e in c["events"]), c["events"]


def test_patch_subject_voids_and_retiers(ctx):
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-7",
                      reason_code="forgot_password")
    cid = c["id"]
    assert c["tier"] == "standard", c
    _, c = ctx.decide("bob", cid)
    assert c["state"] == "ready", c
    old_digest = c["digest"]

    st, c = ctx.api("alice", "PATCH", "/v1/cases/" + cid,
                    {"subject": "radmin"})
    assert st == 200, (st, c)
    assert c["subject"] == "radmin", c
    assert c["tier"] == "critical", c
    assert c["rule"]["tier"] == "critical" and c["rule"]["owner"] == "carol", c
    assert c["digest"] != old_digest, c
    assert c["state"] == "verifying", c
    assert c["requirements"]["evidence"]["count"] == 2, c
    assert c["approvals"], c  # kept, but void
    for rec in c["approvals"] + c["evidence"]:
        assert rec["valid"] is False, rec
        assert rec["void_reason"], rec
    assert "evidence" in missing_groups(c), c
    assert "approval" in missing_groups(c), c

    c = ctx.case("alice", cid)
    assert_seq_increasing(c)
    # the events from alice's change on (the voiding may be "system")
    evs = c["events"]
    i = next((i for i, e in enumerate(evs) if e["actor"] == "alice"
              and e["kind"] not in ("case.opened", "refused")), None)
    assert i is not None, "no event for alice's PATCH: %r" % evs
    after = evs[i:]
    txt = " ".join(event_text(e) for e in after)
    assert "void" in txt, "timeline must say approvals/evidence were voided:" \
        " %r" % c["events"]
    assert "radmin" in txt or "subject" in txt, c["events"]
    assert "critical" in txt, "timeline should say it was re-tiered: %r" \
        % c["events"]
    # the old approval no longer lets anyone execute
    expect_error(ctx.execute("erin", cid, expect=None), 409, "wrong_state",
                 what="execute after material change")


def test_patch_subject_voids_evidence(ctx):
    # jsmith with a new_device signal is tier high: evidence is recorded
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-7",
                      reason_code="new_device", signals=["new_device"])
    cid = c["id"]
    assert c["tier"] == "high", c
    ctx.evidence("dave", cid, "callback_on_file", JSMITH_PHONE)
    _, c = ctx.decide("carol", cid)
    assert c["state"] == "approving", c
    assert c["evidence"][0]["valid"] and c["approvals"][0]["valid"], c
    # only the requester may change what is asked for: someone else who
    # picks the target could otherwise approve their own choice
    expect_error(ctx.api("bob", "PATCH", "/v1/cases/" + cid,
                         {"subject": "radmin"}), 403, "forbidden",
                 what="material change by a non-requester")
    st, c = ctx.api("alice", "PATCH", "/v1/cases/" + cid,
                    {"subject": "radmin"})
    assert st == 200, (st, c)
    assert c["tier"] == "critical" and c["state"] == "verifying", c
    for rec in c["evidence"] + c["approvals"]:
        assert rec["valid"] is False and rec["void_reason"], rec
    # carol may approve again: her voided approval does not block her
    _, c = ctx.decide("carol", cid)
    assert [a["valid"] for a in c["approvals"]] == [False, True], c
    # and the same for params / action (material) and delivery
    st, c = ctx.api("alice", "PATCH", "/v1/cases/" + cid,
                    {"params": {"scope": "all"}})
    assert st == 200, (st, c)
    assert all(a["valid"] is False for a in c["approvals"]), c


def test_patch_non_material_keeps_approvals(ctx):
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-8")
    cid = c["id"]
    _, c = ctx.decide("bob", cid)
    st, c = ctx.api("alice", "PATCH", "/v1/cases/" + cid,
                    {"justification": "caller confirmed employee id"})
    assert st == 200, (st, c)
    assert c["state"] == "ready" and c["approvals"][0]["valid"], c


def test_policy_denied_without_ticket(ctx):
    st, body = ctx.api("alice", "POST", "/v1/cases",
                       {"subject": "pwhite", "action": "mfa_reset",
                        "channel": "phone", "reason_code": "lost_device"})
    err = expect_error((st, body), 422, "policy_denied", what="no ticket")
    assert "High-risk changes need a ticket or incident reference" in \
        err["message"], err
    st, lst = ctx.api("ivan", "GET", "/v1/cases?subject=pwhite")
    assert st == 200 and lst["count"] == 0 and lst["cases"] == [], lst

    st, evs = ctx.api("ivan", "GET", "/v1/events?from=1&limit=1000")
    assert st == 200, (st, evs)
    ref = [e for e in evs["events"]
           if e["kind"] == "refused" and e["actor"] == "alice"]
    assert ref, "refusal not in the audit trail: %r" % evs["events"]
    txt = event_text(ref[-1])
    assert "pwhite" in txt and ("policy_denied" in txt or "ticket" in txt), \
        ref[-1]
    assert not ref[-1].get("case"), ref[-1]
    # the same request with a ticket is accepted (high tier)
    c = ctx.open_case("alice", "pwhite", "mfa_reset", ticket="INC-5",
                      reason_code="lost_device")
    assert c["tier"] == "high", c


def test_subject_never_acts_on_own_case(ctx):
    c = ctx.open_case("bob", "alice", "password_reset", ticket="INC-9",
                      reason_code="locked_out")
    cid = c["id"]
    for x in c["missing"]:
        assert "alice" not in x["eligible"], x
    expect_error(ctx.decide("alice", cid, expect=None), 403,
                 "sod_violation", invariant=5, what="subject approves")
    expect_error(ctx.evidence("alice", cid, "callback_on_file", ALICE_PHONE,
                              expect=None),
                 403, "sod_violation", invariant=5, what="subject verifies")
    _, c = ctx.decide("erin", cid)
    assert c["state"] == "ready", c
    expect_error(ctx.execute("alice", cid, expect=None), 403,
                 "sod_violation", invariant=5, what="subject executes")
    st, c2 = ctx.api("alice", "PATCH", "/v1/cases/" + cid,
                     {"justification": "let me help"})
    expect_error((st, c2), 403, "sod_violation", invariant=5,
                 what="subject edits")
    c = ctx.case("bob", cid)
    assert c["state"] == "ready", c
    assert len(c["approvals"]) == 1 and c["evidence"] == [], c
    assert len(events_of(c, "refused", "alice")) >= 4, c["events"]
    # and alice cannot open a case on herself either
    expect_error(ctx.api("alice", "POST", "/v1/cases",
                         {"subject": "alice", "action": "mfa_reset",
                          "channel": "portal", "ticket": "INC-10",
                          "reason_code": "lost_device"}),
                 403, "sod_violation", invariant=5, what="subject opens")


def test_approval_ttl_expiry(ctx):
    # pwhite (executive, finance): tier high, 1 evidence, 2 approvals,
    # approval_ttl 1h
    c = ctx.open_case("alice", "pwhite", "password_reset", ticket="INC-11",
                      reason_code="forgot_password")
    cid = c["id"]
    assert c["tier"] == "high", c
    assert c["requirements"]["approval_ttl"] == "1h", c
    _, c = ctx.decide("carol", cid)
    assert c["state"] == "verifying", c
    ctx.advance(HOUR + 5 * MINUTE)
    c = ctx.case("alice", cid)
    assert c["approvals"][0]["valid"] is False, c["approvals"]
    assert c["approvals"][0]["void_reason"], c["approvals"]
    ctx.evidence("bob", cid, "callback_on_file", PWHITE_PHONE)
    _, c = ctx.decide("dave", cid)
    # only dave's approval counts now: 1 of 2
    assert c["state"] == "approving", c
    assert "approval" in missing_groups(c), c
    assert c["hold_until"] is None, c
    carol = [a for a in c["approvals"] if a["by"] == "carol"][0]
    dave = [a for a in c["approvals"] if a["by"] == "dave"][0]
    assert carol["valid"] is False and dave["valid"] is True, c["approvals"]
    assert "expir" in carol["void_reason"].lower() or \
        "ttl" in carol["void_reason"].lower(), carol
    c = ctx.case("alice", cid)
    assert any("expir" in event_text(e) for e in c["events"]), c["events"]
    _, c = ctx.decide("frank", cid)
    assert c["state"] == "on_hold", c


def test_approval_ttl_expiry_critical(ctx):
    # critical: approval_ttl 1h. carol approves at t0; at t0+65m her
    # approval is void, so frank's approval alone does not complete the
    # case (with carol's it would: 2 functions, security/ir, outside chain).
    c = _critical_with_evidence(ctx)
    cid = c["id"]
    _, c = ctx.decide("carol", cid)
    assert c["state"] == "approving", c
    ctx.advance(45 * MINUTE)
    # fresh evidence, so that only the approval is past its TTL
    ctx.evidence("dave", cid, "callback_on_file", RADMIN_PHONE)
    ctx.totp_evidence("carol", cid, "radmin")
    ctx.advance(20 * MINUTE)
    c = ctx.case("alice", cid)
    assert c["state"] == "approving", c
    assert c["approvals"][0]["valid"] is False, c["approvals"]
    assert c["approvals"][0]["void_reason"], c["approvals"]
    _, c = ctx.decide("frank", cid)
    assert c["state"] == "approving", "an expired approval counted: %r" % c
    assert "approval" in missing_groups(c), c
    _, c = ctx.decide("dave", cid)
    assert c["state"] == "on_hold", c


def test_break_glass_by_frank(ctx):
    c = ctx.open_case("alice", "pwhite", "mfa_reset", ticket="INC-12",
                      reason_code="lost_device")
    cid = c["id"]
    assert c["tier"] == "high", c
    assert c["requirements"]["approvals"]["count"] == 2, c
    ctx.evidence("bob", cid, "callback_on_file", PWHITE_PHONE)

    # alice (helpdesk) may not declare break-glass
    expect_error(ctx.api("alice", "POST", "/v1/cases/%s/break-glass" % cid,
                         {"justification": "urgent", "incident": "IR-1"}),
                 403, "forbidden", what="break-glass by helpdesk")

    st, c = ctx.api("frank", "POST", "/v1/cases/%s/break-glass" % cid,
                    {"justification": "exec locked out during incident",
                     "incident": "IR-77"})
    assert st == 200, (st, c)
    bg = c["break_glass"]
    assert bg and bg["by"] == "frank" and bg["incident"] == "IR-77", c
    assert c["requirements"]["approvals"]["count"] == 1, c
    c = ctx.case("frank", cid)
    bg_alerts = [e for e in c["events"] if e["alert"] and e["actor"] == "frank"]
    assert bg_alerts, "break-glass must alert at once: %r" % c["events"]
    st, al = ctx.api("carol", "GET", "/v1/alerts")
    assert st == 200 and any(a.get("case") == cid or cid in event_text(a)
                             for a in al["alerts"]), al

    _, c = ctx.decide("carol", cid)
    assert c["state"] == "ready", "break-glass skips the hold: %r" % c
    _, c = ctx.execute("dave", cid, revoked=["sessions"])
    assert c["state"] == "review", c
    due = parse_time(c["review"]["due"])
    at = parse_time(c["execution"]["at"])
    assert abs(due - (at + 24 * HOUR)) <= 5, c["review"]
    c = ctx.case("ivan", cid)
    assert "review" in missing_groups(c), c
    exe = [e for e in c["events"] if e["actor"] == "dave"
           and "execut" in e["kind"]]
    assert exe, c["events"]
    assert events_of(c, "refused", "alice"), c["events"]


def test_break_glass_on_critical(ctx):
    c = _critical_with_evidence(ctx)
    cid = c["id"]
    st, c = ctx.api("frank", "POST", "/v1/cases/%s/break-glass" % cid,
                    {"justification": "admin account hijack in progress",
                     "incident": "IR-78"})
    assert st == 200, (st, c)
    _, c = ctx.decide("carol", cid)
    assert c["state"] == "ready", c
    assert c["hold_until"] is None or \
        parse_time(c["hold_until"]) <= parse_time(c["updated"]), c
    _, c = ctx.execute("dave", cid)
    assert c["state"] == "review", c
    due = parse_time(c["review"]["due"])
    assert abs(due - (parse_time(c["execution"]["at"]) + 24 * HOUR)) <= 5, c


def test_break_glass_by_alice_refused(ctx):
    c = _open_critical(ctx)
    cid = c["id"]
    expect_error(ctx.api("alice", "POST", "/v1/cases/%s/break-glass" % cid,
                         {"justification": "hurry", "incident": "IR-2"}),
                 403, "forbidden", what="break-glass by alice")
    c = ctx.case("alice", cid)
    assert c["break_glass"] is None, c
    assert c["requirements"]["approvals"]["count"] == 2, c
    assert events_of(c, "refused", "alice"), c["events"]


def test_duplicate_open_refused(ctx):
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-20")
    cid = c["id"]
    err = expect_error(ctx.api("bob", "POST", "/v1/cases",
                               {"subject": "jsmith",
                                "action": "password_reset",
                                "channel": "chat", "ticket": "INC-21"}),
                       409, "wrong_state", what="second open case")
    assert cid in err["message"], err
    st, lst = ctx.api("bob", "GET", "/v1/cases?subject=jsmith&state=open")
    assert st == 200 and lst["count"] == 1, lst
    # another family for the same subject is a different queue: allowed
    c2 = ctx.open_case("bob", "jsmith", "mfa_reset", ticket="INC-22",
                       reason_code="lost_device")
    assert c2["queue"] == "mfa", c2
    # once the first is cancelled, a new one may be opened
    st, c = ctx.api("alice", "POST", "/v1/cases/%s/cancel" % cid,
                    {"reason": "duplicate"})
    assert st == 200 and c["state"] == "cancelled", (st, c)
    ctx.open_case("bob", "jsmith", "password_reset", ticket="INC-23")


def test_evidence_contact_not_on_file(ctx):
    c = _open_critical(ctx)
    cid = c["id"]
    for contact in ("+1 555 9999", "attacker@evil.example", JSMITH_PHONE):
        expect_error(ctx.evidence("bob", cid, "callback_on_file", contact,
                                  expect=None),
                     403, "sod_violation", invariant=6,
                     what="evidence to %s" % contact)
    c = ctx.case("bob", cid)
    assert c["evidence"] == [] and c["state"] == "verifying", c
    assert len(events_of(c, "refused", "bob")) == 3, c["events"]


def test_evidence_by_requester_alone_not_enough(ctx):
    """Critical asks for one of the two records by someone other than the
    requester (invariant 6): two by alice leave it verifying."""
    c = _open_critical(ctx)
    cid = c["id"]
    ctx.evidence("alice", cid, "callback_on_file", RADMIN_PHONE)
    ctx.enroll("radmin")
    st, c = ctx.totp_evidence("alice", cid, "radmin", expect=None)
    assert st in (201, 403), (st, c)
    c = ctx.case("alice", cid)
    assert c["state"] == "verifying", c
    ev = missing_of(c, "evidence")
    assert ev and all("alice" not in x["eligible"] for x in ev), ev


def test_auditor_reads_but_cannot_change(ctx):
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-30")
    cid = c["id"]
    st, got = ctx.api("ivan", "GET", "/v1/cases/" + cid)
    assert st == 200 and got["id"] == cid and "events" in got, (st, got)
    st, lst = ctx.api("ivan", "GET", "/v1/cases")
    assert st == 200 and lst["count"] >= 1, lst
    st, evs = ctx.api("ivan", "GET", "/v1/events")
    assert st == 200 and evs["events"], evs
    expect_error(ctx.api("ivan", "POST", "/v1/cases",
                         {"subject": "pwhite", "action": "password_reset",
                          "channel": "phone", "ticket": "INC-31",
                          "reason_code": "forgot_password"}),
                 403, "forbidden", what="auditor opens")
    expect_error(ctx.decide("ivan", cid, expect=None), 403, "forbidden",
                 what="auditor approves")
    expect_error(ctx.evidence("ivan", cid, "callback_on_file", JSMITH_PHONE,
                              expect=None), 403, "forbidden",
                 what="auditor verifies")
    expect_error(ctx.api("ivan", "PATCH", "/v1/cases/" + cid,
                         {"justification": "x"}),
                 403, "forbidden", what="auditor edits")
    expect_error(ctx.api("ivan", "POST", "/v1/cases/%s/cancel" % cid,
                         {"reason": "x"}), 403, "forbidden",
                 what="auditor cancels")
    c = ctx.case("ivan", cid)
    assert c["approvals"] == [] and c["evidence"] == [], c
    assert c["state"] == "approving", c


def test_admin_cannot_approve_or_execute(ctx):
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-40")
    cid = c["id"]
    expect_error(ctx.decide("olivia", cid, expect=None), 403, "forbidden",
                 what="admin approves")
    _, c = ctx.decide("bob", cid)
    assert c["state"] == "ready", c
    expect_error(ctx.execute("olivia", cid, expect=None), 403, "forbidden",
                 what="admin executes")
    st, evs = ctx.api("olivia", "GET", "/v1/events")
    assert st == 200, (st, evs)
    c = ctx.case("bob", cid)
    assert c["state"] == "ready" and len(c["approvals"]) == 1, c


def test_evidence_and_approvals_in_any_order(ctx):
    # two high-tier cases for pwhite (different families, same tier)
    a = ctx.open_case("alice", "pwhite", "mfa_reset", ticket="INC-50",
                      reason_code="lost_device")
    b = ctx.open_case("alice", "pwhite", "password_reset", ticket="INC-51",
                      reason_code="forgot_password")
    assert a["tier"] == b["tier"] == "high", (a, b)
    assert a["requirements"] == b["requirements"], (a, b)

    # A: evidence first, then approvals
    _, ca = ctx.evidence("bob", a["id"], "callback_on_file", PWHITE_PHONE)
    assert ca["state"] == "approving", ca
    assert "evidence" not in missing_groups(ca), ca
    ctx.decide("carol", a["id"])
    _, ca = ctx.decide("dave", a["id"])

    # B: approvals first, then evidence
    _, cb = ctx.decide("carol", b["id"])
    assert cb["state"] == "verifying", cb
    _, cb = ctx.decide("dave", b["id"])
    assert cb["state"] == "verifying", cb
    assert missing_groups(cb) == ["evidence"], cb["missing"]
    _, cb = ctx.evidence("bob", b["id"], "callback_on_file", PWHITE_PHONE)

    for c in (ca, cb):
        assert c["state"] == "on_hold", c
        assert c["hold_until"], c
        assert missing_groups(c) == ["hold"], c["missing"]
        assert all(x["valid"] for x in c["approvals"] + c["evidence"]), c
    ctx.advance(HOUR + 2 * MINUTE)
    for cid in (a["id"], b["id"]):
        c = ctx.case("erin", cid)
        assert c["state"] == "ready", c
        _, c = ctx.execute("erin", cid, revoked=["sessions"])
        assert c["state"] == "executed", c


def test_deny_decision_ends_case(ctx):
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-60")
    cid = c["id"]
    _, c = ctx.decide("bob", cid, decision="deny",
                      comment="caller could not confirm employee id")
    assert c["state"] == "denied", c
    assert c["ended"] and c["ended"]["by"] == "bob", c
    err = expect_error(ctx.decide("erin", cid, expect=None), 409,
                       "wrong_state", what="approve a denied case")
    assert err.get("state") == "denied", err
    expect_error(ctx.execute("erin", cid, expect=None), 409, "wrong_state",
                 what="execute a denied case")
    st, lst = ctx.api("bob", "GET", "/v1/cases?state=denied")
    assert st == 200 and [x["id"] for x in lst["cases"]] == [cid], lst
    # a denied case is not open: a new request may be made
    ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-61")


def test_subject_cancels_not_me(ctx):
    # bob opens a reset of alice's account; alice says "this was not me"
    c = ctx.open_case("bob", "alice", "mfa_reset", ticket="INC-70",
                      reason_code="lost_device")
    cid = c["id"]
    st, c = ctx.api("alice", "POST", "/v1/cases/%s/cancel" % cid,
                    {"reason": "this was not me"})
    assert st == 200 and c["state"] == "cancelled", (st, c)
    c = ctx.case("ivan", cid)
    assert any(e["alert"] for e in c["events"]), c["events"]


def test_lists_and_queues(ctx):
    a = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-80")
    b = ctx.open_case("alice", "radmin", "mfa_reset", ticket="INC-81",
                      reason_code="lost_device")
    st, lst = ctx.api("bob", "GET", "/v1/cases?queue=mfa")
    assert st == 200 and [x["id"] for x in lst["cases"]] == [b["id"]], lst
    assert "events" not in lst["cases"][0], lst
    st, lst = ctx.api("bob", "GET", "/v1/cases?queue=password")
    assert st == 200 and [x["id"] for x in lst["cases"]] == [a["id"]], lst
    st, lst = ctx.api("bob", "GET", "/v1/cases?state=verifying")
    assert st == 200 and [x["id"] for x in lst["cases"]] == [b["id"]], lst
    st, lst = ctx.api("bob", "GET", "/v1/cases")
    assert st == 200 and lst["count"] == 2, lst
    expect_error(ctx.api("bob", "GET", "/v1/cases?queue=nosuch"), 400,
                 "invalid_request", what="unknown queue")
    expect_error(ctx.api("bob", "GET", "/v1/cases?state=nosuch"), 400,
                 "invalid_request", what="unknown state")
    st, me = ctx.api("carol", "GET", "/v1/me")
    assert st == 200 and me["login"] == "carol" and \
        me["function"] == "security", me
    assert "approve" in me["capabilities"] and \
        "execute" not in me["capabilities"], me
    # the policy's break_glass.functions: security and ir, not the desk
    assert "break_glass" in me["capabilities"], me
    st, me = ctx.api("bob", "GET", "/v1/me")
    assert st == 200 and "break_glass" not in me["capabilities"], me


def test_ready_window_expires(ctx):
    # standard: approval_ttl 4h is also the execution window once ready
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-90")
    cid = c["id"]
    _, c = ctx.decide("bob", cid)
    assert c["state"] == "ready" and c["ready_until"], c
    until = parse_time(c["ready_until"])
    assert abs(until - (parse_time(c["approvals"][0]["at"]) + 4 * HOUR)) \
        <= 5, c
    ctx.advance(4 * HOUR + 5 * MINUTE)
    c = ctx.case("erin", cid)
    assert c["state"] == "expired", c
    err = expect_error(ctx.execute("erin", cid, expect=None), 409,
                       "wrong_state", what="execute an expired case")
    assert err.get("state") == "expired", err
    assert any("expire" in e["kind"] for e in c["events"]), c["events"]
    # an expired case is not open: a new request may be made
    ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-91")


def test_post_event_review(ctx):
    c = _critical_with_evidence(ctx)
    cid = c["id"]
    ctx.decide("bob", cid)
    ctx.decide("carol", cid)
    ctx.advance(4 * HOUR + MINUTE)
    _, c = ctx.execute("frank", cid)
    assert c["state"] == "review", c
    rv = missing_of(c, "review")
    assert rv, c["missing"]
    # dave (iam) is the only reviewer who took no part in the case
    assert rv[0]["eligible"] == ["dave"], rv
    body = {"outcome": "confirmed", "comment": "checked with radmin"}
    expect_error(ctx.api("frank", "POST", "/v1/cases/%s/review" % cid, body),
                 403, "sod_violation", what="executor reviews")
    st, b = ctx.api("alice", "POST", "/v1/cases/%s/review" % cid, body)
    assert st == 403, (st, b)
    st, b = ctx.api("carol", "POST", "/v1/cases/%s/review" % cid, body)
    assert st == 403 and b["error"]["code"] == "sod_violation", (st, b)
    # overdue: past the 24h deadline an alert fires
    ctx.advance(25 * HOUR)
    c = ctx.case("ivan", cid)
    assert c["state"] == "review", c
    st, al = ctx.api("ivan", "GET", "/v1/alerts")
    assert st == 200 and any(cid in event_text(a) and "overdue" in
                             event_text(a) for a in al["alerts"]), al
    st, c = ctx.api("dave", "POST", "/v1/cases/%s/review" % cid, body)
    assert st == 200 and c["state"] == "closed", (st, c)
    assert c["review"]["by"] == "dave" and \
        c["review"]["outcome"] == "confirmed", c
    expect_error(ctx.api("dave", "POST", "/v1/cases/%s/review" % cid, body),
                 409, "wrong_state", what="second review")


def test_failed_evidence_raises_alert(ctx):
    c = _open_critical(ctx)
    cid = c["id"]
    _, c = ctx.evidence("bob", cid, "callback_on_file", RADMIN_PHONE,
                        result="fail", reference="no answer; caller "
                        "insisted on another number")
    assert c["state"] == "verifying", c
    assert c["evidence"][0]["result"] == "fail", c["evidence"]
    c = ctx.case("ivan", cid)
    assert any(e["alert"] and e["actor"] == "bob" for e in c["events"]), \
        c["events"]
    # a failed check counts for nothing
    assert "evidence" in missing_groups(c), c


def test_parallel_opens_only_one_wins(ctx):
    """An attacker spraying the desk with parallel requests for the same
    subject and family gets exactly one case."""
    import threading
    results = []
    lock = threading.Lock()
    users = ["alice", "bob", "erin", "dave", "frank"] * 4

    def go(u, i):
        st, b = ctx.api(u, "POST", "/v1/cases",
                        {"subject": "pwhite", "action": "mfa_reset",
                         "channel": "phone", "ticket": "INC-P%d" % i,
                         "reason_code": "lost_device"})
        with lock:
            results.append((st, b))

    ts = [threading.Thread(target=go, args=(u, i))
          for i, u in enumerate(users)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    codes = sorted(st for st, _ in results)
    assert len(results) == len(users), results
    assert codes.count(201) == 1 and codes.count(409) == len(users) - 1, \
        codes
    winner = [b for st, b in results if st == 201][0]
    for st, b in results:
        if st == 409:
            assert b["error"]["code"] == "wrong_state" and \
                winner["id"] in b["error"]["message"], b
    st, lst = ctx.api("ivan", "GET", "/v1/cases?subject=pwhite")
    assert st == 200 and lst["count"] == 1, lst
    r = ctx.twokey("audit", "verify", "--db", ctx.db)
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_invariants_refused_whatever_the_state(ctx):
    c = _critical_with_evidence(ctx)
    cid = c["id"]
    ctx.decide("bob", cid)
    # invariant 2: distinct people
    expect_error(ctx.decide("bob", cid, expect=None), 403, "sod_violation",
                 invariant=2, what="second approval by bob")
    _, c = ctx.decide("carol", cid)
    assert c["state"] == "on_hold", c
    # still refused as sod_violation (not wrong_state) during the hold
    expect_error(ctx.decide("alice", cid, expect=None), 403, "sod_violation",
                 invariant=1, what="requester approves during hold")
    expect_error(ctx.decide("bob", cid, expect=None), 403, "sod_violation",
                 invariant=2, what="bob again during hold")
    # evidence and approvals are closed once on hold
    expect_error(ctx.decide("frank", cid, expect=None), 409, "wrong_state",
                 what="approval during hold")
    ctx.advance(4 * HOUR + MINUTE)
    _, c = ctx.execute("frank", cid)
    # the executor cannot approve or verify afterwards (invariant 4)
    st, b = ctx.decide("frank", cid, expect=None)
    assert st == 403 and b["error"]["code"] == "sod_violation", (st, b)
    c = ctx.case("ivan", cid)
    assert [a["by"] for a in c["approvals"]] == ["bob", "carol"], c


def test_cancel_during_hold(ctx):
    c = _critical_with_evidence(ctx)
    cid = c["id"]
    ctx.decide("bob", cid)
    _, c = ctx.decide("carol", cid)
    assert c["state"] == "on_hold", c
    expect_error(ctx.api("ivan", "POST", "/v1/cases/%s/cancel" % cid,
                         {"reason": "x"}), 403, "forbidden",
                 what="auditor cancels")
    st, c = ctx.api("alice", "POST", "/v1/cases/%s/cancel" % cid,
                    {"reason": "caller hung up when asked for the ticket"})
    assert st == 200 and c["state"] == "cancelled", (st, c)
    assert c["ended"]["by"] == "alice", c
    ctx.advance(5 * HOUR)
    c = ctx.case("frank", cid)
    assert c["state"] == "cancelled", c
    expect_error(ctx.execute("frank", cid, expect=None), 409, "wrong_state",
                 what="execute a cancelled case")


def test_policy_explain(ctx):
    st, x = ctx.api("henry", "POST", "/v1/policy/explain",
                    {"subject": "radmin", "action": "mfa_reset",
                     "ticket": "INC-1"})
    assert st == 200, (st, x)
    assert x["tier"] == "critical" and x["owner"] == "carol", x
    assert x["denied"] is None, x
    assert x["requirements"]["hold"] == "4h", x
    st, x = ctx.api("henry", "POST", "/v1/policy/explain",
                    {"subject": "pwhite", "action": "mfa_reset"})
    assert st == 200 and x["tier"] == "high", (st, x)
    assert x["denied"] and "ticket" in x["denied"]["reason"], x
    assert x["denied"]["owner"] == "carol", x
    st, x = ctx.api("henry", "POST", "/v1/policy/explain",
                    {"subject": "jsmith", "action": "password_reset",
                     "signals": ["unusual_geo"], "ticket": "T"})
    assert st == 200 and x["tier"] == "high", (st, x)


def test_files_next_to_the_database_are_private(ctx):
    """The database and the files twokey keeps next to it (the stored
    case views among them) hold subjects, contacts and justifications:
    owner-only, whatever the umask the server started with."""
    import os
    import stat
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-77")
    st, _ = ctx.api("ivan", "GET", "/v1/cases/%s" % c["id"])
    assert st == 200
    st, _ = ctx.api("ivan", "GET", "/v1/cases/%s" % c["id"])
    assert st == 200
    base = os.path.basename(ctx.db)
    seen = []
    for name in sorted(os.listdir(ctx.data)):
        if not name.startswith(base):
            continue
        mode = stat.S_IMODE(os.stat(os.path.join(ctx.data, name)).st_mode)
        seen.append(name)
        assert mode & 0o077 == 0, (name, oct(mode))
    assert base + "-views" in seen, seen


def test_approval_bound_to_the_digest_read(ctx):
    """Invariant 7 over the API: an approval that names the digest it was
    read at is refused once the case changed, and counts otherwise."""
    c = ctx.open_case("alice", "jsmith", "password_reset", ticket="INC-78")
    cid, seen = c["id"], c["digest"]
    st, body = ctx.api("alice", "PATCH", "/v1/cases/%s" % cid,
                       {"params": {"note": "changed"}})
    assert st == 200, body
    assert body["digest"] != seen, body
    expect_error(ctx.api("bob", "POST", "/v1/cases/%s/approvals" % cid,
                         {"decision": "approve", "digest": seen}),
                 409, "wrong_state", what="approval of what was read")
    assert ctx.case("ivan", cid)["approvals"] == []
    st, body = ctx.api("bob", "POST", "/v1/cases/%s/approvals" % cid,
                       {"decision": "approve", "digest": body["digest"]})
    assert st == 201, body
