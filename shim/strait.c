// bin/strait, the CNI plugin as runtimes execute it: a static, libc-only program that
// answers VERSION itself, hands every other call to the node's agent over its unix
// socket, and with no agent on the node execs the Node.js plugin. docs/cni-agent.md is
// the contract this file implements (which socket, the request, the answers, the DEL
// queue); read it first. Everything here is blocking and single-threaded on purpose:
// the process lives for one call.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define STDIN_MAX (1u << 20)
#define ANSWER_MAX (16u << 20)
#define HEAD_MAX (64u << 10)
#define DEFAULT_SOCKET "/run/strait/agent.sock"
#define DEFAULT_STATE_DIR "/var/lib/strait"
#define DEFAULT_TIMEOUT_MS 10000L
#define TIMEOUT_MAX_MS 86400000L
// The agent's own timeout answers first; this is only for an agent that never does.
#define TIMEOUT_MARGIN_MS 5000L
// Byte for byte what the Node plugin prints (src/cni/version.ts versionReply).
#define VERSION_REPLY                                                                     \
	"{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\"," \
	"\"1.0.0\",\"1.1.0\"]}\n"

extern char **environ;

struct buf {
	char *p;
	size_t len, cap;
};

// What the call is, from the environment and the few config keys the shim needs.
static struct {
	const char *cmd;
	const char *version; // of the error objects the shim prints itself
	struct buf in;       // stdin, as read
	struct buf sock, state_dir, cni_version;
	int has_sock, has_state_dir, has_cni_version;
	long timeout_ms; // 0: not in the config
	struct timespec t0;
} g;

static void oom(void)
{
	static const char m[] = "strait: out of memory\n";
	if (write(2, m, sizeof(m) - 1) < 0) {
	}
	_exit(1);
}

static void buf_grow(struct buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		oom();
	b->p = p;
	b->cap = cap;
}

// Keeps a NUL after the bytes, so a buffer is also a C string.
static void buf_add(struct buf *b, const void *s, size_t n)
{
	buf_grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void buf_vfmt(struct buf *b, const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	buf_grow(b, (size_t)n);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
	va_end(again);
	b->len += (size_t)n;
}

static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vfmt(b, fmt, ap);
	va_end(ap);
}

// A JSON string: `"`, `\` and control characters escaped, every other byte as it is.
static void buf_json(struct buf *b, const char *s, size_t n)
{
	buf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = c == '"'  ? "\\\"" :
				  c == '\\' ? "\\\\" :
				  c == '\n' ? "\\n" :
				  c == '\r' ? "\\r" :
				  c == '\t' ? "\\t" :
					      NULL;
		if (esc)
			buf_add(b, esc, 2);
		else if (c < 0x20)
			buf_fmt(b, "\\u%04x", c);
		else
			buf_add(b, &c, 1);
	}
	buf_add(b, "\"", 1);
}

static long ms_since(const struct timespec *t, clockid_t clock)
{
	struct timespec now;
	clock_gettime(clock, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

// Waits until `fd` is ready for `events` or `deadline` (CLOCK_MONOTONIC) passes
// (-1, errno ETIMEDOUT). Readiness includes errors: the next call reports them.
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
	for (;;) {
		long ms = deadline ? -ms_since(deadline, CLOCK_MONOTONIC) : -1;
		if (deadline && ms <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, deadline ? (int)(ms > INT_MAX ? INT_MAX : ms) : -1);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int write_all(int fd, const char *p, size_t n, const struct timespec *deadline)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLOUT, deadline))
				return -1;
			continue;
		}
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

// The spec's error object on stdout, exit 1.
__attribute__((format(printf, 3, 4))) static _Noreturn void fail(int code, const char *details,
								 const char *fmt, ...)
{
	struct buf msg = { 0 }, out = { 0 };
	va_list ap;
	va_start(ap, fmt);
	buf_vfmt(&msg, fmt, ap);
	va_end(ap);
	buf_add(&out, "{\"cniVersion\":", 14);
	buf_json(&out, g.version, strlen(g.version));
	buf_fmt(&out, ",\"code\":%d,\"msg\":", code);
	buf_json(&out, msg.p, msg.len);
	if (details) {
		buf_add(&out, ",\"details\":", 11);
		buf_json(&out, details, strlen(details));
	}
	buf_add(&out, "}\n", 2);
	if (write_all(1, out.p, out.len, NULL)) {
	}
	exit(1);
}

// ---- a JSON scanner: just enough to find a few top-level keys of valid JSON ----

struct scan {
	const char *p, *end;
};

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int eat(struct scan *s, char c)
{
	ws(s);
	if (s->p >= s->end || *s->p != c)
		return 0;
	s->p++;
	return 1;
}

static int hex4(struct scan *s, unsigned *cp)
{
	*cp = 0;
	for (int i = 0; i < 4; i++, s->p++) {
		if (s->p >= s->end)
			return -1;
		char c = *s->p;
		int d = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 :
					       -1;
		if (d < 0)
			return -1;
		*cp = *cp << 4 | (unsigned)d;
	}
	return 0;
}

static void utf8(struct buf *b, unsigned cp)
{
	unsigned char u[4];
	size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	static const unsigned char lead[] = { 0, 0, 0xc0, 0xe0, 0xf0 };
	for (size_t i = n - 1; i > 0; i--, cp >>= 6)
		u[i] = (unsigned char)(0x80 | (cp & 0x3f));
	u[0] = (unsigned char)(lead[n] | cp);
	buf_add(b, u, n);
}

// A \u escape after the `\u`; a surrogate pair makes one code point, and a lone
// surrogate becomes U+FFFD as Node makes it of a path.
static int unicode(struct scan *s, struct buf *out)
{
	unsigned cp, lo;
	if (hex4(s, &cp))
		return -1;
	if (cp >= 0xd800 && cp < 0xdc00 && s->end - s->p >= 6 && s->p[0] == '\\' &&
	    s->p[1] == 'u') {
		const char *back = s->p;
		s->p += 2;
		if (hex4(s, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000)
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		else
			s->p = back;
	}
	if (out)
		utf8(out, cp >= 0xd800 && cp < 0xe000 ? 0xfffd : cp);
	return 0;
}

// A string; its decoded bytes go to `out` unless it is NULL.
static int str(struct scan *s, struct buf *out)
{
	if (!eat(s, '"'))
		return -1;
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p++;
		if (c == '"')
			return 0;
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (s->p >= s->end)
				return -1;
			const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
			const char *e = strchr(from, *s->p++);
			if (e && *e) {
				c = (unsigned char)to[e - from];
			} else if (s->p[-1] == 'u') {
				if (unicode(s, out))
					return -1;
				continue;
			} else {
				return -1;
			}
		}
		if (out)
			buf_add(out, &c, 1);
	}
	return -1;
}

static int digits(struct scan *s)
{
	const char *from = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > from ? 0 : -1;
}

static int number(struct scan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (digits(s))
		return -1;
	if (s->p < s->end && *s->p == '.' && (s->p++, digits(s)))
		return -1;
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (digits(s))
			return -1;
	}
	return 0;
}

static int scalar(struct scan *s)
{
	static const char *const lits[] = { "true", "false", "null" };
	if (*s->p == '"')
		return str(s, NULL);
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(lits[i]);
		if ((size_t)(s->end - s->p) >= n && memcmp(s->p, lits[i], n) == 0) {
			s->p += n;
			return 0;
		}
	}
	return number(s);
}

// One value of any depth, checked and skipped. Open containers are kept on a heap
// stack, not the C stack, so deep nesting in 1 MiB of input cannot overflow it.
static int skip(struct scan *s)
{
	struct buf open = { 0 };
	int rc = -1;
	for (;;) {
		ws(s);
		if (s->p >= s->end)
			goto out;
		char c = *s->p;
		if (c == '{' || c == '[') {
			char close = c == '{' ? '}' : ']';
			s->p++;
			if (!eat(s, close)) {
				buf_add(&open, &close, 1);
				if (c == '{' && (str(s, NULL) || !eat(s, ':')))
					goto out;
				continue;
			}
		} else if (scalar(s)) {
			goto out;
		}
		// After a value: a comma goes on in the innermost container, its bracket closes it.
		for (;;) {
			if (open.len == 0) {
				rc = 0;
				goto out;
			}
			char top = open.p[open.len - 1];
			if (eat(s, ',')) {
				if (top == '}' && (str(s, NULL) || !eat(s, ':')))
					goto out;
				break;
			}
			if (!eat(s, top))
				goto out;
			open.len--;
		}
	}
out:
	free(open.p);
	return rc;
}

// A positive integer of at most TIMEOUT_MAX_MS written as plain digits, else 0.
static long timeout_of(const char *p, size_t n)
{
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9' || (v = v * 10 + (p[i] - '0')) > TIMEOUT_MAX_MS)
			return 0;
	}
	return v;
}

// The value of one top-level key: a string for the keys that want one (a later value
// of another type unsets it, as the last duplicate wins in JSON.parse), else skipped.
static int scan_value(struct scan *s, const struct buf *key)
{
	struct buf *want = NULL;
	int *has = NULL;
	const char *k = strlen(key->p) == key->len ? key->p : ""; // "\u0000" in it: none of ours
	if (strcmp(k, "agentSocket") == 0)
		want = &g.sock, has = &g.has_sock;
	else if (strcmp(k, "stateDir") == 0)
		want = &g.state_dir, has = &g.has_state_dir;
	else if (strcmp(k, "cniVersion") == 0)
		want = &g.cni_version, has = &g.has_cni_version;
	ws(s);
	if (want && s->p < s->end && *s->p == '"') {
		want->len = 0;
		buf_add(want, "", 0);
		// A NUL inside makes no path: as if absent, the agent or the Node plugin says why.
		int rc = str(s, want);
		*has = rc == 0 && strlen(want->p) == want->len;
		return rc;
	}
	if (has)
		*has = 0;
	const char *from = s->p;
	if (skip(s))
		return -1;
	if (strcmp(k, "agentTimeoutMs") == 0)
		g.timeout_ms = timeout_of(from, (size_t)(s->p - from));
	return 0;
}

// The config's agentSocket, stateDir, agentTimeoutMs and cniVersion. Invalid JSON
// counts as none of them: the agent or the Node plugin reports the decode error.
static void scan_config(void)
{
	struct scan s = { g.in.p, g.in.p + g.in.len };
	struct buf key = { 0 };
	int ok = eat(&s, '{');
	if (ok && !eat(&s, '}')) {
		do {
			key.len = 0;
			buf_add(&key, "", 0);
			ok = str(&s, &key) == 0 && eat(&s, ':') && scan_value(&s, &key) == 0;
		} while (ok && eat(&s, ','));
		ok = ok && eat(&s, '}');
	}
	ws(&s);
	free(key.p);
	if (!ok || s.p != s.end)
		g.has_sock = g.has_state_dir = g.has_cni_version = 0, g.timeout_ms = 0;
	// The version our own errors are in: the config's when a plain x.y.z, as
	// src/cni/request.ts sniffVersion decides.
	struct scan v = { g.cni_version.p, g.cni_version.p + g.cni_version.len };
	int parts = 0;
	while (g.has_cni_version && digits(&v) == 0 && ++parts < 3 && v.p < v.end && *v.p == '.')
		v.p++;
	if (parts == 3 && v.p == v.end)
		g.version = g.cni_version.p;
}

// ---- standalone: no agent on this node ----

// Runs the Node.js plugin of the project this binary is in (<root>/bin/strait, links
// resolved), with this environment and, through a memfd, the stdin already read.
static _Noreturn void standalone(int argc, char **argv)
{
	char exe[PATH_MAX];
	struct buf node = { 0 }, bundle = { 0 };
	if (!realpath("/proc/self/exe", exe))
		fail(100, NULL, "cannot resolve /proc/self/exe: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = 0;
	}
	buf_fmt(&node, "%s/tools/node24/bin/node", exe);
	buf_fmt(&bundle, "%s/dist/cni-bundle/main.js", exe);
	if (access(node.p, X_OK))
		fail(100, "run scripts/setup.sh", "no Node.js 24 at %s: run scripts/setup.sh",
		     node.p);
	if (access(bundle.p, R_OK))
		fail(100, "run scripts/setup.sh", "no CNI bundle at %s: run scripts/setup.sh",
		     bundle.p);
	int fd = memfd_create("strait-stdin", 0);
	if (fd < 0 || write_all(fd, g.in.p, g.in.len, NULL) || lseek(fd, 0, SEEK_SET) ||
	    (fd != 0 && (dup2(fd, 0) < 0 || close(fd))))
		fail(100, NULL, "cannot pass stdin to the Node plugin: %s", strerror(errno));
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	if (!args)
		oom();
	args[0] = node.p;
	args[1] = bundle.p;
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	execv(node.p, args);
	fail(100, NULL, "cannot run %s: %s", node.p, strerror(errno));
}

// ---- the DEL queue ----

// mkdir -p; the directories it makes are the owner's only.
static int mkdirs(char *path)
{
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != 0)
			continue;
		char c = *p;
		*p = 0;
		int rc = mkdir(path, 0700);
		*p = c;
		if (rc && errno != EEXIST)
			return -1;
		if (!c)
			return 0;
	}
}

// A path from the config or the environment: absolute, else the Node plugin's error.
static const char *abs_path(int has, const struct buf *conf, const char *field, const char *var,
			    const char *fallback)
{
	const char *env = getenv(var);
	if (has && conf->p[0] != '/')
		fail(7, NULL, "field '%s' must be an absolute path, got '%s'", field, conf->p);
	if (has)
		return conf->p;
	if (env && *env && *env != '/')
		fail(4, NULL, "%s must be an absolute path, got '%s'", var, env);
	return env && *env ? env : fallback;
}

// Writes the request body as <stateDir>/cni-del-queue/<ns, 20 digits>-<pid>.json,
// durably: a temp file, fsynced, renamed, the directory fsynced.
static void queue_del(const struct buf *body)
{
	struct buf dir = { 0 }, name = { 0 }, tmp = { 0 }, dst = { 0 };
	struct timespec now;
	const char *step = "mkdir";
	int fd = -1;
	buf_fmt(&dir, "%s/cni-del-queue",
		abs_path(g.has_state_dir, &g.state_dir, "stateDir", "STRAIT_STATE_DIR",
			 DEFAULT_STATE_DIR));
	clock_gettime(CLOCK_REALTIME, &now);
	buf_fmt(&name, "%020llu-%d.json",
		(unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec,
		(int)getpid());
	buf_fmt(&tmp, "%s/.tmp-%d-%s", dir.p, (int)getpid(), name.p);
	buf_fmt(&dst, "%s/%s", dir.p, name.p);
	if (mkdirs(dir.p))
		goto fail;
	step = "create";
	fd = open(tmp.p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	step = "write";
	if (write_all(fd, body->p, body->len, NULL))
		goto fail;
	step = "fsync";
	if (fsync(fd))
		goto fail;
	close(fd);
	fd = -1;
	step = "rename";
	if (rename(tmp.p, dst.p))
		goto fail;
	step = "fsync the directory";
	fd = open(dir.p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		goto fail;
	close(fd);
	return;
fail:;
	int err = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp.p);
	fail(11, "the DEL was not queued: the runtime tries it again",
	     "cannot queue DEL in %s: %s: %s (errno %d)", dir.p, step, strerror(err), err);
}

// ---- agent mode ----

struct answer {
	int status;
	int exit_code; // strait-cni-exit, -1 when missing or not 0/1
	int chunked;
	char duration[24]; // strait-cni-duration-us, "?" when missing
	size_t body_off;   // an offset, as the buffer moves when it grows
	size_t body_len;
	long content_length; // -1: until EOF
};

// The status line and headers, once a->p holds them all (1), else 0; -1 when malformed.
static int parse_head(struct buf *a, struct answer *r)
{
	char *end = memmem(a->p, a->len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	end[2] = 0; // the head as a C string, each line ending in CRLF
	r->body_off = (size_t)(end + 4 - a->p);
	r->exit_code = -1;
	r->content_length = -1;
	if (strncmp(a->p, "HTTP/1.", 7) || a->p[8] != ' ' ||
	    sscanf(a->p + 9, "%3d", &r->status) != 1)
		return -1;
	for (char *line = strstr(a->p, "\r\n") + 2, *eol; (eol = strstr(line, "\r\n"));
	     line = eol + 2) {
		*eol = 0;
		char *v = strchr(line, ':');
		if (!v)
			continue;
		*v++ = 0;
		while (*v == ' ' || *v == '\t')
			v++;
		for (char *t = eol; t > v && (t[-1] == ' ' || t[-1] == '\t'); t--)
			t[-1] = 0;
		if (strcasecmp(line, "content-length") == 0) {
			char *e;
			unsigned long long n = strtoull(v, &e, 10);
			if (*v < '0' || *v > '9' || *e || n > ANSWER_MAX)
				return -1;
			r->content_length = (long)n;
		} else if (strcasecmp(line, "strait-cni-exit") == 0) {
			r->exit_code = strcmp(v, "0") == 0 ? 0 : strcmp(v, "1") == 0 ? 1 : -1;
		} else if (strcasecmp(line, "strait-cni-duration-us") == 0) {
			snprintf(r->duration, sizeof(r->duration), "%s", v);
		} else if (strcasecmp(line, "transfer-encoding") == 0) {
			r->chunked = 1;
		}
	}
	return 1;
}

// Connects to `path` before `deadline`: NULL, or why not.
static const char *dial(int fd, const char *path, const struct timespec *deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, path, strlen(path));
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EISCONN)
			return NULL;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) { // a full listen backlog: nothing to poll for, so try again
			if (ms_since(deadline, CLOCK_MONOTONIC) >= 0)
				return "no answer within the timeout (connect)";
			poll(NULL, 0, 5);
			continue;
		}
		if (errno != EINPROGRESS)
			return strerror(errno);
		int err = 0;
		socklen_t n = sizeof(err);
		if (wait_fd(fd, POLLOUT, deadline))
			return "no answer within the timeout (connect)";
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n);
		return err ? strerror(err) : NULL;
	}
}

// One request, one whole answer before `deadline`: NULL, or why there is none.
static const char *exchange(const char *path, const struct buf *req, struct buf *ans,
			    struct answer *r, const struct timespec *deadline)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return strerror(errno);
	const char *why = dial(fd, path, deadline);
	if (why)
		return why;
	// A failed send may still leave an answer to read (an agent that refused early).
	int sent = write_all(fd, req->p, req->len, deadline) == 0;
	if (!sent && errno == ETIMEDOUT)
		return "no answer within the timeout (sending)";
	int head = 0;
	for (;;) {
		if (head == 0 &&
		    ((head = parse_head(ans, r)) < 0 || (!head && ans->len > HEAD_MAX)))
			return "a malformed HTTP answer";
		size_t have = head ? ans->len - r->body_off : 0;
		if (head && r->content_length >= 0 && have >= (size_t)r->content_length) {
			r->body_len = (size_t)r->content_length;
			return NULL;
		}
		if (ans->len >= ANSWER_MAX)
			return "an answer larger than 16 MiB";
		buf_grow(ans, 65536);
		ssize_t n = recv(fd, ans->p + ans->len, ans->cap - ans->len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLIN, deadline))
				return "no answer within the timeout";
			continue;
		}
		if (n == 0 && head && r->content_length < 0) {
			r->body_len = have;
			return NULL;
		}
		if (n <= 0)
			return sent ? "the connection closed before the answer was complete" :
				      "the connection closed while sending";
		ans->len += (size_t)n;
		ans->p[ans->len] = 0;
	}
}

// The agent is configured but cannot take the call: each command's answer of the
// contract's table.
static int unreachable(const char *sock, const char *why, const struct buf *body)
{
	static const char retry[] = "the runtime tries again; the agent answers once it is up";
	const char *c = g.cmd ? g.cmd : "";
	if (strcmp(c, "DEL") == 0) {
		queue_del(body);
		return 0;
	}
	if (strcmp(c, "ADD") == 0 || strcmp(c, "CHECK") == 0 || strcmp(c, "GC") == 0)
		fail(11, retry, "strait agent at %s is not reachable: %s", sock, why);
	if (strcmp(c, "STATUS") == 0)
		fail(50, NULL, "strait agent at %s is not reachable: %s", sock, why);
	if (!g.cmd || !*g.cmd)
		fail(4, NULL, "required env variables [CNI_COMMAND] missing");
	fail(4, "expected one of ADD, DEL, CHECK, STATUS, GC, VERSION", "unknown CNI_COMMAND '%s'",
	     c);
}

// The agent's error.message in an answer's body if it has one, else its first 200 bytes.
static const char *agent_message(const struct answer *r, const char *body)
{
	static struct buf m;
	const char *k = memmem(body, r->body_len, "\"message\"", 9);
	struct scan s = { k ? k + 9 : body, body + r->body_len };
	buf_add(&m, "", 0);
	if (k && eat(&s, ':') && (ws(&s), str(&s, &m) == 0))
		return m.p;
	m.len = 0;
	buf_add(&m, body, r->body_len < 200 ? r->body_len : 200);
	while (m.len && (m.p[m.len - 1] == '\n' || m.p[m.len - 1] == ' '))
		m.p[--m.len] = 0;
	return m.p;
}

static long timeout_ms(void)
{
	const char *env = getenv("STRAIT_AGENT_TIMEOUT_MS");
	long env_ms = env ? timeout_of(env, strlen(env)) : 0;
	return g.timeout_ms ? g.timeout_ms : env_ms ? env_ms : DEFAULT_TIMEOUT_MS;
}

static int agent(const char *sock, int from_config)
{
	struct buf body = { 0 }, req = { 0 }, ans = { 0 };
	struct answer r = { .duration = "?" };
	if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		fail(from_config ? 7 : 4, NULL, "%s '%s' is longer than a unix socket path can be",
		     from_config ? "field 'agentSocket'" : "STRAIT_AGENT_SOCKET", sock);
	buf_add(&body, "{\"env\":{", 8);
	for (char **e = environ; *e; e++) {
		char *eq = strchr(*e, '=');
		if (!eq || (strncmp(*e, "CNI_", 4) && strncmp(*e, "STRAIT_", 7)))
			continue;
		if (body.p[body.len - 1] != '{')
			buf_add(&body, ",", 1);
		buf_json(&body, *e, (size_t)(eq - *e));
		buf_add(&body, ":", 1);
		buf_json(&body, eq + 1, strlen(eq + 1));
	}
	buf_add(&body, "},\"stdin\":", 10);
	buf_json(&body, g.in.p, g.in.len);
	buf_add(&body, "}", 1);
	buf_fmt(&req,
		"POST /v1/cni HTTP/1.1\r\nHost: strait-agent\r\nContent-Type: application/json\r\n"
		"Content-Length: %zu\r\nConnection: close\r\n\r\n",
		body.len);
	buf_add(&req, body.p, body.len);

	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	long ms = timeout_ms() + TIMEOUT_MARGIN_MS;
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += ms % 1000 * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
		deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;

	const char *why = exchange(sock, &req, &ans, &r, &deadline);
	if (why)
		return unreachable(sock, why, &body);
	if (getenv("STRAIT_SHIM_TRACE") && strcmp(getenv("STRAIT_SHIM_TRACE"), "1") == 0) {
		struct timespec now;
		struct buf t = { 0 };
		clock_gettime(CLOCK_MONOTONIC, &now);
		buf_fmt(&t, "strait: agent %s answered in %ld us (agent work %s us)\n", sock,
			(now.tv_sec - g.t0.tv_sec) * 1000000L + (now.tv_nsec - g.t0.tv_nsec) / 1000,
			r.duration);
		if (write_all(2, t.p, t.len, NULL)) {
		}
	}
	if (r.status == 503)
		return unreachable(sock, agent_message(&r, ans.p + r.body_off), &body);
	if (r.status != 200)
		fail(11, "the shim and the agent are of different builds",
		     "strait agent at %s answered %d: %s", sock, r.status,
		     agent_message(&r, ans.p + r.body_off));
	if (r.chunked || r.exit_code < 0)
		fail(11, "the shim and the agent are of different builds",
		     "strait agent at %s answered 200 %s", sock,
		     r.chunked ? "with a chunked body" : "without a strait-cni-exit of 0 or 1");
	if (write_all(1, ans.p + r.body_off, r.body_len, NULL))
		return 1;
	return r.exit_code;
}

int main(int argc, char **argv)
{
	clock_gettime(CLOCK_MONOTONIC, &g.t0);
	signal(SIGPIPE, SIG_IGN);
	g.version = "1.1.0";
	g.cmd = getenv("CNI_COMMAND");
	int too_big = 0;
	for (;;) {
		buf_grow(&g.in, 65536);
		size_t room = g.in.cap - g.in.len - 1;
		if (room > STDIN_MAX + 1 - g.in.len)
			room = STDIN_MAX + 1 - g.in.len;
		ssize_t n = read(0, g.in.p + g.in.len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && wait_fd(0, POLLIN, NULL) == 0)
			continue;
		if (n <= 0)
			break; // EOF, or no stdin at all: read as empty, as the Node plugin does
		g.in.len += (size_t)n;
		g.in.p[g.in.len] = 0;
		if ((too_big = g.in.len > STDIN_MAX))
			break;
	}
	// VERSION never depends on the config, so it never fails.
	if (g.cmd && strcmp(g.cmd, "VERSION") == 0)
		return write_all(1, VERSION_REPLY, sizeof(VERSION_REPLY) - 1, NULL) ? 1 : 0;
	if (too_big)
		fail(6, NULL, "the network configuration on stdin is larger than 1 MiB (%u bytes)",
		     STDIN_MAX);
	scan_config();

	// Only an absolute path names an agent. A relative one is the Node plugin's to refuse
	// (7 in the config, 4 in the environment): it does so in its own order of checks,
	// so the error is the one a standalone call gives.
	const char *env = getenv("STRAIT_AGENT_SOCKET");
	if (g.has_sock && g.sock.p[0] == '/')
		return agent(g.sock.p, 1);
	if (!g.has_sock && env && *env == '/')
		return agent(env, 0);
	if (!g.has_sock && !(env && *env) && access(DEFAULT_SOCKET, F_OK) == 0)
		return agent(DEFAULT_SOCKET, 0);
	standalone(argc, argv);
}
