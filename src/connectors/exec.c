/*
 * exec.c - the exec connector: runs a local program (a vendor CLI wrapper,
 * a site script) that performs the change, for targets with no API twokey
 * speaks.
 *
 * The program gets the change as JSON on stdin (conn_body.h; the secret
 * only with send_secret true, for password_reset and secret_rotate, as the
 * webhook), an environment built from nothing
 * (PATH=/usr/bin:/bin plus the NAME=VALUE pairs of the env option), no
 * inherited file descriptors besides 0-2, and its own process group.
 * stdout and stderr are read at once with poll (8 KiB of each kept, the
 * rest drained). Exit 0 is DONE (message: first line of stdout), another
 * exit FAILED (the code and the last line of stderr), a signal UNKNOWN;
 * at the timeout the group gets SIGTERM, then SIGKILL 2 s later, and the
 * result is UNKNOWN (the program may have made the change).
 *
 * Options: program (absolute path; a regular executable file that neither
 * group nor others can write, in a directory they cannot write either),
 * args (comma list), env (comma list of NAME=VALUE), cwd, send_secret.
 *
 * Owns: the opened state (argv and envp, fixed at open). Each apply runs
 * its own child and waits for that pid only, so several threads may apply
 * at once. The process must not reap children with waitpid(-1).
 */
/* pipe2, posix_spawn_file_actions_addclosefrom_np and _addchdir_np
 * (glibc 2.34+): descriptors closed in the child without a fork */
#define _GNU_SOURCE
#include "connectors/connector.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "connectors/conn_body.h"

#define EXEC_ARGS_MAX 32
#define EXEC_ENV_MAX 32
#define EXEC_OUT_MAX 8192          /* bytes of stdout / stderr kept */
#define EXEC_BODY_MAX (64 * 1024)
#define EXEC_KILL_GRACE_MS 2000

typedef struct exec_state {
	char program[TK_CONN_OPT_VALUE_MAX];
	char cwd[TK_CONN_OPT_VALUE_MAX];         /* "" = inherit */
	char argbuf[TK_CONN_OPT_VALUE_MAX];      /* args, NULs between */
	char envbuf[TK_CONN_OPT_VALUE_MAX + 32]; /* env, NULs between */
	char *argv[EXEC_ARGS_MAX + 2];           /* program, args, NULL */
	char *envp[EXEC_ENV_MAX + 2];            /* PATH?, pairs, NULL */
	int send_secret;
} exec_state;

static int
env_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* Splits the comma list in buf in place into out[], at most max items;
 * returns the count or -1. An empty list gives 0. */
static int
split(char *buf, char **out, int max)
{
	char *p = buf, *c;
	int n = 0;

	if (buf[0] == '\0')
		return 0;
	for (;;) {
		if (n == max)
			return -1;
		out[n++] = p;
		c = strchr(p, ',');
		if (c == NULL)
			return n;
		*c = '\0';
		p = c + 1;
	}
}

/* The program file and its directory: nobody but the owner may change
 * what runs. */
static int
program_ok(const tk_conn_config *cfg, const char *prog, tk_error *err)
{
	char dir[TK_CONN_OPT_VALUE_MAX];
	struct stat st;
	char *slash;

	if (prog == NULL || prog[0] != '/') {
		tk_fail(err, TK_ERR_INVALID, "connector %s: program must be an "
		    "absolute path (e.g. /usr/local/libexec/reset-vendor), "
		    "got %s", cfg->name, prog == NULL ? "nothing" : prog);
		return -1;
	}
	if (stat(prog, &st) != 0) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: program %s: %s",
		    cfg->name, prog, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || access(prog, X_OK) != 0) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: program %s is not "
		    "an executable regular file (chmod 755 it)", cfg->name,
		    prog);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: program %s is "
		    "writable by group or others, so anyone could change what "
		    "twokey runs; chmod go-w it", cfg->name, prog);
		return -1;
	}
	(void)tk_strlcpy(dir, prog, sizeof(dir));
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0 || ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    (st.st_mode & S_ISVTX) == 0)) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: the directory of "
		    "program %s is writable by group or others, so the program "
		    "could be replaced; move it or chmod go-w %s", cfg->name,
		    prog, dir);
		return -1;
	}
	return 0;
}

static int
exec_open(const tk_conn_config *cfg, void **state, tk_error *err)
{
	const char *prog = tk_conn_opt(cfg, "program");
	const char *args = tk_conn_opt(cfg, "args");
	const char *env = tk_conn_opt(cfg, "env");
	const char *cwd = tk_conn_opt(cfg, "cwd");
	char *pairs[EXEC_ENV_MAX];
	struct stat st;
	exec_state *s;
	int n, i, send, has_path = 0, e = 0;
	size_t off;

	*state = NULL;
	if (program_ok(cfg, prog, err) != 0)
		return -1;
	if (cwd != NULL && (cwd[0] != '/' || stat(cwd, &st) != 0 ||
	    !S_ISDIR(st.st_mode))) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: cwd %s must be an "
		    "existing directory given by its absolute path", cfg->name,
		    cwd);
		return -1;
	}
	send = tk_conn_opt_bool(cfg, "send_secret", 0);
	if (send < 0) {
		tk_fail(err, TK_ERR_INVALID, "connector %s: send_secret must be "
		    "true or false", cfg->name);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		tk_fail(err, TK_ERR_INTERNAL, "connector %s: out of memory",
		    cfg->name);
		return -1;
	}
	s->send_secret = send;
	(void)tk_strlcpy(s->program, prog, sizeof(s->program));
	if (cwd != NULL)
		(void)tk_strlcpy(s->cwd, cwd, sizeof(s->cwd));
	s->argv[0] = s->program;
	(void)tk_strlcpy(s->argbuf, args != NULL ? args : "",
	    sizeof(s->argbuf));
	n = split(s->argbuf, s->argv + 1, EXEC_ARGS_MAX);
	if (n < 0) {
		free(s);
		tk_fail(err, TK_ERR_INVALID, "connector %s: more than %d args",
		    cfg->name, EXEC_ARGS_MAX);
		return -1;
	}
	s->argv[n + 1] = NULL;
	/* envbuf: the env pairs, then "PATH=/usr/bin:/bin" unless given */
	(void)tk_strlcpy(s->envbuf, env != NULL ? env : "",
	    sizeof(s->envbuf));
	n = split(s->envbuf, pairs, EXEC_ENV_MAX);
	if (n < 0) {
		free(s);
		tk_fail(err, TK_ERR_INVALID, "connector %s: more than %d env "
		    "entries", cfg->name, EXEC_ENV_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		char *eq = strchr(pairs[i], '=');

		if (eq == NULL || !env_name_ok(pairs[i],
		    (size_t)(eq - pairs[i]))) {
			tk_fail(err, TK_ERR_INVALID, "connector %s: env entry "
			    "%.80s is not NAME=VALUE (NAME of letters, digits "
			    "and '_')", cfg->name, pairs[i]);
			free(s);
			return -1;
		}
		if (strncmp(pairs[i], "PATH=", 5) == 0)
			has_path = 1;
		s->envp[e++] = pairs[i];
	}
	if (!has_path) {
		off = env != NULL ? strlen(env) + 1 : 0;
		memcpy(s->envbuf + off, "PATH=/usr/bin:/bin", 19);
		s->envp[e++] = s->envbuf + off;
	}
	s->envp[e] = NULL;
	*state = s;
	return 0;
}

static void
exec_close(void *state)
{
	exec_state *s = state;

	if (s == NULL)
		return;
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Waits up to ms for pid; 1 reaped (status set), 0 still running. */
static int
reap(pid_t pid, int *status, int ms)
{
	long long end = now_ms() + ms;
	pid_t w;

	for (;;) {
		w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return 1;
		if (w < 0 && errno != EINTR) {
			*status = 0;   /* reaped elsewhere: not ours to judge */
			return 1;
		}
		if (now_ms() >= end)
			return 0;
		sleep_ms(10);
	}
}

/* SIGTERM to the group, SIGKILL after the grace; reaps pid. */
static void
kill_group(pid_t pid, int *status)
{
	(void)kill(-pid, SIGTERM);
	if (!reap(pid, status, EXEC_KILL_GRACE_MS)) {
		(void)kill(-pid, SIGKILL);
		(void)reap(pid, status, 5000);
	} else {
		sleep_ms(50);
	}
	/* the program's own children stay in its group: end them too */
	(void)kill(-pid, SIGKILL);
}

/* Reads what is there from *fd into b (capped, rest drained); closes it
 * at EOF or error. */
static void
drain(int *fd, tk_sbuf *b)
{
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = read(*fd, buf, sizeof(buf));
		if (n > 0) {
			tk_sbuf_add_trunc(b, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		close(*fd);
		*fd = -1;
		return;
	}
}

/* First (first != 0) or last non-empty line of b into out, sanitized. */
static void
pick_line(const tk_sbuf *b, int first, const char *secret, char *out,
    size_t size)
{
	const char *p = b->p != NULL ? b->p : "", *s, *e, *end = p + b->len;

	out[0] = '\0';
	if (first) {
		for (s = p; s < end; s = e + 1) {
			e = memchr(s, '\n', (size_t)(end - s));
			if (e == NULL)
				e = end;
			tk_conn_excerpt(s, (size_t)(e - s), 300, secret, out,
			    size);
			if (out[0] != '\0' || e == end)
				return;
		}
		return;
	}
	for (e = end; e > p; e = s) {
		s = e;
		while (s > p && s[-1] != '\n')
			s--;
		tk_conn_excerpt(s, (size_t)(e - s), 300, secret, out, size);
		if (out[0] != '\0')
			return;
		if (s > p)
			s--;
	}
}

static void
exec_apply(void *state, const tk_conn_config *cfg, const tk_change *ch,
    tk_conn_result *r)
{
	const exec_state *s = state;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
	int fa_ok = 0, at_ok = 0, rc, status = 0, exited = 0, timed_out = 0;
	tk_sbuf body, so, se;
	size_t sent = 0;
	sigset_t none, defs;
	struct pollfd pf[3];
	long long deadline;
	tk_error err;
	char line[400];
	pid_t pid = -1;
	ssize_t n;

	tk_sbuf_init(&body, EXEC_BODY_MAX);
	tk_sbuf_init(&so, EXEC_OUT_MAX);
	tk_sbuf_init(&se, EXEC_OUT_MAX);
	if (tk_change_json(ch, s->send_secret &&
	    (ch->op == TK_OP_PASSWORD_RESET || ch->op == TK_OP_SECRET_ROTATE),
	    (long long)time(NULL), &body, &err) != 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "%s", err.msg);
		return;
	}
	tk_sbuf_add(&body, "\n", 1);
	/* stdin is a socket so a child that never reads cannot raise
	 * SIGPIPE in us (send with MSG_NOSIGNAL) */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
	    pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "cannot make pipes for %s: "
		    "%s; nothing ran", s->program, strerror(errno));
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "out of memory; nothing "
		    "ran");
		goto out;
	}
	fa_ok = 1;
	if (posix_spawnattr_init(&at) != 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "out of memory; nothing "
		    "ran");
		goto out;
	}
	at_ok = 1;
	sigemptyset(&none);
	sigfillset(&defs);
	sigdelset(&defs, SIGKILL);
	sigdelset(&defs, SIGSTOP);
	if (posix_spawn_file_actions_adddup2(&fa, in[1], 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, out[1], 1) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, errp[1], 2) != 0 ||
	    posix_spawn_file_actions_addclosefrom_np(&fa, 3) != 0 ||
	    (s->cwd[0] != '\0' &&
	    posix_spawn_file_actions_addchdir_np(&fa, s->cwd) != 0) ||
	    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) != 0 ||
	    posix_spawnattr_setpgroup(&at, 0) != 0 ||
	    posix_spawnattr_setsigmask(&at, &none) != 0 ||
	    posix_spawnattr_setsigdefault(&at, &defs) != 0) {
		tk_conn_result_set(r, TK_CONN_FAILED, "cannot prepare to run "
		    "%s; nothing ran", s->program);
		goto out;
	}
	rc = posix_spawn(&pid, s->program, &fa, &at, s->argv, s->envp);
	if (rc != 0) {
		pid = -1;
		tk_conn_result_set(r, TK_CONN_FAILED, "cannot run %s: %s; "
		    "nothing ran", s->program, strerror(rc));
		goto out;
	}
	close(in[1]);
	close(out[1]);
	close(errp[1]);
	in[1] = out[1] = errp[1] = -1;
	if (fcntl(in[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(out[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(errp[0], F_SETFL, O_NONBLOCK) != 0) {
		kill_group(pid, &status);
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "lost control of %s "
		    "(fcntl: %s) and killed it; it may have made the change",
		    s->program, strerror(errno));
		goto out;
	}
	deadline = now_ms() + cfg->timeout_ms;
	while (!exited || out[0] >= 0 || errp[0] >= 0) {
		long long left = deadline - now_ms();
		int np = 0, wait_ms;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (in[0] >= 0) {
			pf[np].fd = in[0];
			pf[np++].events = POLLOUT;
		}
		if (out[0] >= 0) {
			pf[np].fd = out[0];
			pf[np++].events = POLLIN;
		}
		if (errp[0] >= 0) {
			pf[np].fd = errp[0];
			pf[np++].events = POLLIN;
		}
		/* wake now and then to notice the exit even when a grandchild
		 * keeps the pipes open */
		wait_ms = left < 50 ? (int)left : 50;
		if (np > 0 && poll(pf, (nfds_t)np, wait_ms) < 0 &&
		    errno != EINTR)
			break;
		if (np == 0)
			sleep_ms(wait_ms);
		if (in[0] >= 0) {
			n = send(in[0], body.p + sent, body.len - sent,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) || sent == body.len) {
				close(in[0]);
				in[0] = -1;
			}
		}
		if (out[0] >= 0)
			drain(&out[0], &so);
		if (errp[0] >= 0)
			drain(&errp[0], &se);
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = 1;
			/* what is already in the pipes is the program's; a
			 * grandchild holding them open is not waited for */
			if (out[0] >= 0)
				drain(&out[0], &so);
			if (errp[0] >= 0)
				drain(&errp[0], &se);
			break;
		}
	}
	if (!exited) {
		kill_group(pid, &status);
		if (timed_out) {
			tk_conn_result_set(r, TK_CONN_UNKNOWN, "%s did not "
			    "finish within %d ms and was killed; it may have "
			    "made the change: check the target", s->program,
			    cfg->timeout_ms);
		} else {
			tk_conn_result_set(r, TK_CONN_UNKNOWN, "lost track of %s "
			    "(poll: %s) and killed it; it may have made the "
			    "change", s->program, strerror(errno));
		}
		goto out;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		pick_line(&so, 1, ch->secret, line, sizeof(line));
		tk_conn_result_set(r, TK_CONN_DONE, "%s", line[0] != '\0' ?
		    line : "exit 0");
	} else if (WIFEXITED(status)) {
		pick_line(&se, 0, ch->secret, line, sizeof(line));
		tk_conn_result_set(r, TK_CONN_FAILED, "%s exited with status "
		    "%d%s%s", s->program, WEXITSTATUS(status),
		    line[0] != '\0' ? ": " : " (nothing on stderr)", line);
	} else if (WIFSIGNALED(status)) {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "%s was killed by signal "
		    "%d; it may have made the change: check the target",
		    s->program, WTERMSIG(status));
	} else {
		tk_conn_result_set(r, TK_CONN_UNKNOWN, "%s ended in an unknown "
		    "way (status %d)", s->program, status);
	}
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		posix_spawnattr_destroy(&at);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	tk_sbuf_free(&body);
	tk_sbuf_free(&so);
	tk_sbuf_free(&se);
}

const tk_connector_ops tk_conn_exec = {
	"exec",
	(1u << TK_OP__COUNT) - 1,   /* the program decides what it can do */
	exec_open, exec_apply, NULL, exec_close,
};
