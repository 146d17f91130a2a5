/*
 * store_int.h - what the store's files share among themselves (not for
 * callers): the SQLite handle of a tk_store and the schema hook of the
 * verification and execution tables (store_fx.c).
 */
#ifndef TK_STORE_INT_H
#define TK_STORE_INT_H

#include <sqlite3.h>

#include "store/store.h"

sqlite3 *tk_store_sqlite(tk_store *s);
/* The prepared statement for sql on this connection: prepared on first
 * use (SQLITE_PREPARE_PERSISTENT) and kept until tk_store_close. sql
 * must be a string literal: its address is the key. Not re-entrant per
 * statement. Give it back with tk_store_stmt_done (reset, bindings
 * cleared), never sqlite3_finalize. NULL with err filled on failure. */
sqlite3_stmt *tk_store_stmt(tk_store *s, const char *sql, tk_error *err);
void tk_store_stmt_done(sqlite3_stmt *st);
/* Creates the factor, confirmation, outbox and grant tables when absent
 * (every schema version has them; they need no migration). */
int tk_store_fx_schema(tk_store *s, tk_error *err);
/* The same for the console's sign-in tables (store_signin.c). */
int tk_store_signin_schema(tk_store *s, tk_error *err);
/* The same for the index of verification events (store_verified.c). */
int tk_store_verified_schema(tk_store *s, tk_error *err);

#endif
