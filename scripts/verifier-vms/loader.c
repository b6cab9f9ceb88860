// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The guest side of scripts/verifier-vms.sh: loads each BPF object the way strait's
 * addon does (native/bpf_object.cc: libbpf open with pin_root_path, then load, so
 * the second object reuses the maps the first one pinned) and prints one JSON line
 * per object. Built static against Debian's libbpf.a, it runs in a bare initramfs.
 *
 *   loader PIN_ROOT OBJECT...      exit status: the number of objects that failed
 *
 * First load: every program at log level 4 (BPF_LOG_STATS), so a success reports
 * the verifier's "processed N insns" line and a failure still carries the
 * verifier's error message. After a failure the object is loaded once more at log
 * level 1 for the instruction trace; kernels before 6.4 keep the head of an
 * overflowing log (ENOSPC), newer ones the tail, so "trace" is cut accordingly.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATS_LOG (64 * 1024)
#define TRACE_LOG (16 * 1024 * 1024)
#define KEEP_TAIL (24 * 1024) /* what one JSON field keeps of a long log: its end */
#define MAX_PROGS 16

static char warnings[KEEP_TAIL]; /* libbpf's own warnings, latest last */

static int on_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[2048];
	size_t have = strlen(warnings), add;

	if (level != LIBBPF_WARN)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	add = strlen(line);
	if (have + add + 1 > sizeof(warnings)) { /* drop the oldest half */
		memmove(warnings, warnings + have / 2, have - have / 2 + 1);
		have = strlen(warnings);
	}
	if (add + 1 <= sizeof(warnings) - have)
		memcpy(warnings + have, line, add + 1);
	return 0;
}

/* A JSON string of at most the last `keep` bytes of s. */
static void put_json(const char *key, const char *s, size_t keep)
{
	size_t n = strlen(s);

	if (n > keep)
		s += n - keep;
	printf(",\"%s\":\"", key);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* The verifier's summary line ("processed N insns (limit ...) ..."), or "". */
static const char *stats_line(const char *log, char *out, size_t size)
{
	const char *p = strstr(log, "processed ");
	size_t n;

	out[0] = '\0';
	if (p) {
		n = strcspn(p, "\n");
		if (n >= size)
			n = size - 1;
		memcpy(out, p, n);
		out[n] = '\0';
	}
	return out;
}

static struct bpf_object *open_obj(const char *path, const char *pin_root)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);
	return bpf_object__open_file(path, &opts);
}

/* Loads with every program logging at `level` into its own buffer; 0 or -errno. */
static int load(const char *path, const char *pin_root, unsigned level, size_t size,
		char *logs[MAX_PROGS], char names[MAX_PROGS][64], int *nprogs)
{
	struct bpf_program *prog;
	struct bpf_object *obj = open_obj(path, pin_root);
	int err, i = 0;

	if (!obj)
		return -errno;
	bpf_object__for_each_program(prog, obj) {
		if (i == MAX_PROGS)
			break;
		logs[i] = calloc(1, size);
		if (!logs[i]) {
			bpf_object__close(obj);
			return -ENOMEM;
		}
		snprintf(names[i], 64, "%s", bpf_program__name(prog));
		bpf_program__set_log_level(prog, level);
		bpf_program__set_log_buf(prog, logs[i], size);
		i++;
	}
	*nprogs = i;
	err = bpf_object__load(obj);
	bpf_object__close(obj); /* the pinned maps stay for the next object */
	return err;
}

static int check(const char *path, const char *pin_root)
{
	char *logs[MAX_PROGS] = { 0 }, *trace[MAX_PROGS] = { 0 };
	char names[MAX_PROGS][64], line[256];
	int n = 0, n2 = 0, err, err2 = 0, i;

	warnings[0] = '\0';
	err = load(path, pin_root, 4, STATS_LOG, logs, names, &n);
	if (err)
		err2 = load(path, pin_root, 1, TRACE_LOG, trace, names, &n2);

	printf("{\"object\":\"%s\",\"ok\":%s", path, err ? "false" : "true");
	if (err) {
		printf(",\"errno\":%d", -err);
		put_json("error", strerror(-err), 200);
		printf(",\"traceErrno\":%d", -err2);
	}
	put_json("libbpf", warnings, KEEP_TAIL);
	printf(",\"programs\":[");
	for (i = 0; i < n; i++) {
		printf("%s{\"name\":\"%s\"", i ? "," : "", names[i]);
		put_json("stats", stats_line(logs[i], line, sizeof(line)), sizeof(line));
		put_json("log", logs[i], KEEP_TAIL);
		if (i < n2 && trace[i])
			put_json("trace", trace[i], KEEP_TAIL);
		putchar('}');
	}
	printf("]}\n");
	fflush(stdout);
	for (i = 0; i < MAX_PROGS; i++) {
		free(logs[i]);
		free(trace[i]);
	}
	return err != 0;
}

int main(int argc, char **argv)
{
	int failed = 0, i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PIN_ROOT OBJECT...\n", argv[0]);
		return 255;
	}
	libbpf_set_print(on_print);
	for (i = 2; i < argc; i++)
		failed += check(argv[i], argv[1]);
	return failed;
}
