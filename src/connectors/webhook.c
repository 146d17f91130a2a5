/*
 * webhook.c - the webhook connector (placeholder until it is written: it declares
 * nothing and refuses to open).
 */
#include "connectors/connector.h"

static int
webhook_open(const tk_conn_config *cfg, void **state, tk_error *err)
{
	(void)state;
	return tk_fail(err, TK_ERR_INVALID, "connector %s: the webhook kind is "
	    "not built yet", cfg->name) == TK_OK ? 0 : -1;
}

static void
webhook_apply(void *state, const tk_conn_config *cfg, const tk_change *ch,
    tk_conn_result *r)
{
	(void)state; (void)ch;
	tk_conn_result_set(r, TK_CONN_FAILED, "%s: not built", cfg->name);
}

const tk_connector_ops tk_conn_webhook = {
	"webhook", 0, webhook_open, webhook_apply, NULL, NULL,
};
