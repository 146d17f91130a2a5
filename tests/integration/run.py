#!/usr/bin/env python3
"""run.py - twokey's integration test runner (standard library only).

Discovers tests/integration/test_*.py and runs every function named
test_* with a fresh harness.Context (own data folder, database, tokens and
server). A test fails when it raises, when it outlives its time budget
(default 120 s, or the function's `timeout` attribute), when the server
died during it, or when the server did not stop cleanly (exit code 0 on
SIGTERM; sanitizer reports make it non-zero). Prints one line per test,
then `N passed, N failed`; exits 1 if any test failed.

Usage: TWOKEY_BIN=build/asan/twokey python3 tests/integration/run.py
       [-k SUBSTRING]... [--keep] [-x] [-v]
"""

import argparse
import importlib
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

DEFAULT_TIMEOUT = 120


class TestTimeout(Exception):
    pass


def _on_alarm(_sig, _frame):
    raise TestTimeout("test exceeded its time budget")


def discover(selectors):
    tests = []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        modname = fname[:-3]
        mod = importlib.import_module(modname)
        for name, obj in list(vars(mod).items()):
            if name.startswith("test_") and callable(obj) and \
                    getattr(obj, "__module__", None) == modname:
                full = "%s::%s" % (modname, name)
                if selectors and not any(s in full for s in selectors):
                    continue
                tests.append((full, obj))
    return tests


def run_one(full, fn, keep, verbose):
    """Returns (ok, detail)."""
    budget = int(getattr(fn, "timeout", DEFAULT_TIMEOUT))
    ctx = None
    detail = ""
    ok = True
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(budget)
    try:
        ctx = harness.Context()
        fn(ctx)
    except TestTimeout:
        ok = False
        detail = "timed out after %d s\n%s" % (budget, traceback.format_exc())
    except Exception:  # noqa: BLE001 - any failure is the test's failure
        ok = False
        detail = traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if ctx is not None:
        ctxs = [ctx] + list(ctx.extra)
        for c in ctxs:
            died = c.proc is not None and c.proc.poll() is not None
            if died:
                ok = False
                detail += ("\nserver died during the test (exit code %s)"
                           % c.proc.returncode)
            try:
                c.stop()
            except Exception:  # noqa: BLE001
                ok = False
                detail += "\ncould not stop server:\n" + traceback.format_exc()
                continue
            if c.crashed and not died:
                ok = False
                detail += "\n" + c.crashed
            bad = [x for x in c.stop_codes if x not in (0, None)]
            if bad and not died:
                ok = False
                detail += ("\nserver exited with code(s) %s when stopped "
                           "(expected 0)" % bad)
            if not ok or verbose:
                tail = c.stderr_tail()
                if tail.strip():
                    detail += "\n--- server stderr (%s) ---\n%s" % (c.data,
                                                                   tail)
        try:
            ctx.close(keep=keep and not ok)
        except Exception:  # noqa: BLE001
            pass
        if keep and not ok:
            detail += "\n(data kept in %s)" % ctx.tmp
    return ok, detail


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", action="append", default=[],
                    help="run tests whose module::name contains this")
    ap.add_argument("--keep", action="store_true",
                    help="keep the data folder of failed tests")
    ap.add_argument("-x", action="store_true", help="stop at first failure")
    ap.add_argument("-v", action="store_true",
                    help="show server stderr for passing tests too")
    args = ap.parse_args()

    try:
        harness.twokey_bin()
    except harness.HarnessError as e:
        print("integration: %s" % e)
        print("0 passed, 1 failed")
        return 1

    tests = discover(args.k)
    try:
        if tests and not harness.clock_hook_works():
            print("integration: warning: this twokey ignores "
                  "TWOKEY_TEST_CLOCK_FILE (a release build?); tests that "
                  "move time will fail. Use MODE=asan or MODE=debug.")
    except Exception as e:  # noqa: BLE001 - the tests will report it
        print("integration: warning: clock probe failed: %s" % e)
    passed = failed = 0
    t_all = time.time()
    for full, fn in tests:
        t0 = time.time()
        ok, detail = run_one(full, fn, args.keep, args.v)
        dt = time.time() - t0
        if ok:
            passed += 1
            print("PASS %s (%.1fs)" % (full, dt), flush=True)
            if args.v and detail.strip():
                print(detail, flush=True)
        else:
            failed += 1
            print("FAIL %s (%.1fs)" % (full, dt), flush=True)
            print("    " + detail.strip().replace("\n", "\n    "), flush=True)
            if args.x:
                break
    print("integration: %d tests in %.1fs" % (passed + failed,
                                             time.time() - t_all))
    print("%d passed, %d failed" % (passed, failed), flush=True)
    harness.cleanup_templates()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
