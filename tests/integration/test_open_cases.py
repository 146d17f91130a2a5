"""test_open_cases.py - one open case per subject and action family.

An attacker must not be able to spray the desk with parallel requests for
one account, neither by opening a second case nor by moving another case
onto the account; and a case that time has already finished must not
block a new one.
"""

from harness import HOUR, expect_error


def test_patch_cannot_move_onto_a_subject_with_an_open_case(ctx):
    first = ctx.open_case("alice", "jsmith", "password_reset")
    other = ctx.open_case("alice", "henry", "password_reset")
    st, resp = ctx.api("alice", "PATCH", "/v1/cases/" + other["id"],
                       {"subject": "jsmith"})
    expect_error((st, resp), 409, "wrong_state",
                 what="patch onto a subject with an open case")
    assert first["id"] in resp["error"]["message"], resp
    st, c = ctx.api("ivan", "GET", "/v1/cases/" + other["id"])
    assert st == 200 and c["subject"] == "henry", c
    assert any(e["kind"] == "refused" for e in c["events"]), c["events"]
    st, lst = ctx.api("ivan", "GET",
                      "/v1/cases?subject=jsmith&state=open&queue=password")
    assert st == 200 and lst["count"] == 1, lst


def test_finished_case_does_not_block_a_new_one(ctx):
    # no scheduler sweep: the open itself must notice the case is over
    ctx = ctx.sibling(serve_args=["--sweep-interval", "0"])
    c = ctx.open_case("alice", "jsmith", "password_reset")
    _, c = ctx.decide("bob", c["id"])
    assert c["state"] == "ready", c
    # standard tier: 4h to execute; after that the case has expired even
    # though nobody has read it since
    ctx.advance(5 * HOUR)
    st, new = ctx.api("alice", "POST", "/v1/cases", {
        "subject": "jsmith", "action": "password_reset", "channel": "phone"})
    assert st == 201, (st, new)
    st, old = ctx.api("ivan", "GET", "/v1/cases/" + c["id"])
    assert old["state"] == "expired", old
