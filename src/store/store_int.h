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
/* Creates the factor, confirmation, outbox and grant tables when absent
 * (every schema version has them; they need no migration). */
int tk_store_fx_schema(tk_store *s, tk_error *err);
/* The same for the console's sign-in tables (store_signin.c). */
int tk_store_signin_schema(tk_store *s, tk_error *err);

#endif
