// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One TCP connection for bench/monitor.mjs's switched run (built by it at run time,
 * cc -O2): request/response (a 16-byte message and its echo, one at a time, as
 * sockperf ping-pong does) or a bulk stream, reported window by window on
 * CLOCK_MONOTONIC. The bench switches what runs beside the connection (flow events,
 * a monitor) every few seconds while it runs, and compares the windows of one setup
 * with those of its neighbours in time: the machine's drift from minute to minute,
 * larger here than the few per cent sought, then falls out.
 *   usage: windowed serve PORT                     prints "ready" once listening
 *          windowed rr HOST PORT SECONDS WINDOW_MS
 *          windowed stream HOST PORT SECONDS WINDOW_MS
 * The client prints one JSON line per window: its start (CLOCK_MONOTONIC, ns, what
 * Node's process.hrtime.bigint() reads), the round trips completed in it and their
 * p50 in microseconds (rr), or the bytes written in it (stream). On a failure it
 * prints {"error": ...} and exits 1. The server takes one connection at a time; the
 * client's first byte says which kind ('r' echoes, 's' discards).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"

#define MSG 16
#define CHUNK (128 * 1024)
#define MAX_WINDOWS 100000
#define MAX_RTTS_PER_WINDOW (1 << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what)
{
	printf("{\"error\":\"%s: %s\"}\n", what, strerror(errno));
	return 1;
}

static int full_io(int fd, char *buf, size_t len, int writing)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = writing ? write(fd, buf + done, len - done) : read(fd, buf + done, len - done);

		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static void serve_one(int c)
{
	static char buf[CHUNK];
	char kind;
	int one = 1;

	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (read(c, &kind, 1) != 1)
		return;
	if (kind == 'r') {
		while (full_io(c, buf, MSG, 0) == 0 && full_io(c, buf, MSG, 1) == 0)
			;
		return;
	}
	while (read(c, buf, sizeof(buf)) > 0)
		;
}

static int serve(const char *port)
{
	int s = listen_ready(atoi(port), 16);

	if (s < 0)
		return fail("listen");
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0)
			continue;
		serve_one(c);
		close(c);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct window {
	uint64_t start_ns;
	uint64_t count;
	uint64_t bytes;
	double p50_us;
};

static struct window windows[MAX_WINDOWS];
static uint32_t rtts[MAX_RTTS_PER_WINDOW];

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int one = 1, fd;

	if (getaddrinfo(host, port, &hints, &ai) != 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int client(int rr, const char *host, const char *port, double seconds, double window_ms)
{
	static char buf[CHUNK];
	uint64_t window_ns = (uint64_t)(window_ms * 1e6), start, end, wstart;
	size_t nwin = 0, nrtt = 0;
	char kind = rr ? 'r' : 's';
	int fd = dial(host, port);

	if (fd < 0)
		return fail("connect");
	if (write(fd, &kind, 1) != 1)
		return fail("write");
	start = wstart = now_ns();
	end = start + (uint64_t)(seconds * 1e9);
	windows[0].start_ns = start;
	for (;;) {
		uint64_t t0 = now_ns(), t1;

		if (t0 >= wstart + window_ns) {
			struct window *w = &windows[nwin];

			if (rr && nrtt > 0) {
				qsort(rtts, nrtt, sizeof(rtts[0]), cmp_u32);
				w->p50_us = rtts[nrtt / 2] / 1000.0;
			}
			nrtt = 0;
			if (t0 >= end || ++nwin >= MAX_WINDOWS)
				break;
			wstart += window_ns;
			windows[nwin].start_ns = wstart;
		}
		if (rr) {
			if (full_io(fd, buf, MSG, 1) < 0 || full_io(fd, buf, MSG, 0) < 0)
				return fail("ping-pong");
			t1 = now_ns();
			if (nrtt < MAX_RTTS_PER_WINDOW)
				rtts[nrtt++] = (uint32_t)(t1 - t0);
			windows[nwin].count++;
		} else {
			ssize_t n = write(fd, buf, sizeof(buf));

			if (n <= 0)
				return fail("stream");
			windows[nwin].bytes += (uint64_t)n;
		}
	}
	close(fd);
	for (size_t i = 0; i < nwin; i++)
		printf("{\"t\":%llu,\"n\":%llu,\"p50\":%.3f,\"bytes\":%llu}\n", (unsigned long long)windows[i].start_ns,
		       (unsigned long long)windows[i].count, windows[i].p50_us, (unsigned long long)windows[i].bytes);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	if (argc == 6 && (strcmp(argv[1], "rr") == 0 || strcmp(argv[1], "stream") == 0))
		return client(strcmp(argv[1], "rr") == 0, argv[2], argv[3], atof(argv[4]), atof(argv[5]));
	fprintf(stderr, "usage: windowed serve PORT | windowed rr|stream HOST PORT SECONDS WINDOW_MS\n");
	return 2;
}
