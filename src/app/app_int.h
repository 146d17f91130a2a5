/*
 * app_int.h - what the application layer's files share (not for the
 * edges): the state of verification and execution (directory,
 * connectors, seal key) and the few entry points into app.c's locking
 * and group commit that verify.c and execute.c build on.
 *
 * Locking: app_case_op and app_tx run their callback with the app mutex
 * held, inside a savepoint of the group-commit batch, and return once
 * the batch is durable. Network calls (connectors, SMTP, SMS) never run
 * under the mutex: callers do them between two such steps.
 */
#ifndef TK_APP_INT_H
#define TK_APP_INT_H

#include <stdatomic.h>

#include "app/app.h"
#include "connectors/directory.h"
#include "store/store.h"
#include "verify/seal.h"

struct app_fx {
	bool have_dir;
	tk_directory dir;
	tk_connector conn[TK_DIR_CONNECTORS_MAX]; /* opened, as dir.conn */
	int nconn;
	bool have_seal;
	unsigned char seal_key[TK_SEAL_KEY_LEN]; /* wiped at close */
	atomic_bool flushing;   /* one outbox flush at a time */
	atomic_bool verifying;  /* audit_verify.c: one at a time */
};

struct app_fx *app_fx(tk_app *a);

typedef enum tk_status (*app_case_fn)(const tk_ctx *x, tk_case *c,
    const char *actor, const void *arg, tk_events *ev, tk_error *err);

/*
 * One operation on case id, exactly as every case operation runs (load,
 * apply time, fn, persist case and events or record the refusal). With
 * keep, writes fn made to other tables stay even when fn refuses (a
 * wrong TOTP code still counts as a failure). after (non-NULL) receives
 * the case as persisted on success.
 */
enum tk_status app_case_op(tk_app *a, const char *actor, const char *id,
    const char *what, app_case_fn fn, const void *arg, bool keep,
    json_t **out, tk_app_err *err, tk_case *after);

/* fn runs under the mutex in its own savepoint of a batch; returns 0 to
 * keep its writes, -1 (err filled) to undo them. */
typedef int (*app_tx_fn)(tk_app *a, tk_time now, void *arg, tk_error *err);
int app_tx(tk_app *a, app_tx_fn fn, void *arg, tk_error *err);

/* fn reads the store under the mutex, outside any transaction (it sees
 * committed data only); returns fn's result. */
int app_read(tk_app *a, app_tx_fn fn, void *arg, tk_error *err);

/* Only inside app_case_op's, app_tx's or app_read's fn. */
tk_store *app_store(tk_app *a);
/* The policy and org in force at now, for the engine (queue.c). */
tk_ctx app_ctx(tk_app *a, tk_time now);
int app_event(tk_app *a, tk_time now, const char *case_id, const char *kind,
    const char *actor, bool alert, json_t *data, tk_error *err);

/* A copy of the subject from the org in force; false when unknown. */
bool app_subject(tk_app *a, const char *id, tk_subject *out);
/* A copy of case id as stored (after applying nothing). */
enum tk_status app_case_read(tk_app *a, const char *id, tk_case *out,
    tk_app_err *err);

/* How many GETs a view stored in the view file answered (app.c; tests). */
unsigned long app_view_hits(tk_app *a);

/* The manual connector: the executor attests (app.c). */
enum tk_status app_execute_manual(tk_app *a, const char *actor,
    const char *id, const tk_execute_req *r, json_t **out,
    tk_app_err *err);

/* verify.c: sends queued notices (hold started) - at most one flush at a
 * time; returns the number sent. */
int app_outbox_flush(tk_app *a);
void app_fx_close(tk_app *a);

#endif
