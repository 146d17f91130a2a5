/*
 * exec.c - the exec connector (placeholder until it is written: it declares
 * nothing and refuses to open).
 */
#include "connectors/connector.h"

static int
exec_open(const tk_conn_config *cfg, void **state, tk_error *err)
{
	(void)state;
	return tk_fail(err, TK_ERR_INVALID, "connector %s: the exec kind is "
	    "not built yet", cfg->name) == TK_OK ? 0 : -1;
}

static void
exec_apply(void *state, const tk_conn_config *cfg, const tk_change *ch,
    tk_conn_result *r)
{
	(void)state; (void)ch;
	tk_conn_result_set(r, TK_CONN_FAILED, "%s: not built", cfg->name);
}

const tk_connector_ops tk_conn_exec = {
	"exec", 0, exec_open, exec_apply, NULL, NULL,
};
