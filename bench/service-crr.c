// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * New TCP connections, one after another, for bench/service.mjs (built by it at run
 * time, cc -O2), as netperf's TCP_CRR does: connect, a 64-byte request, a 64-byte
 * response, close. The client closes first, so the TIME_WAIT is the client's: with
 * net.ipv4.tcp_tw_reuse=1 in its netns (bench/service.mjs sets it) a port is reused
 * a second after, and a new SYN never meets the server's TIME_WAIT of an old
 * connection of that port (the server would answer with its old ACK, and the client
 * retry a second later).
 *   usage: service-crr serve PORT           prints "ready" once listening (v4 and v6)
 *          service-crr client HOST PORT SECONDS [RATE]
 * With RATE, connection i starts i/RATE seconds after the first (paced, for
 * bench/monitor.mjs's loss run); without, each starts when the last one closed.
 * The client prints one JSON line: connections completed, the seconds they took, the
 * p50, p99 and max of one connection's time (microseconds), and how many took over
 * 200 ms (a lost SYN or SYN-ACK costs a second's retransmission); on any failure it prints
 * {"error": ...} and exits 1.
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

#define MSG 64
#define MAX_SAMPLES (1 << 22)

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int fail(const char *what)
{
	printf("{\"error\":\"%s: %s\"}\n", what, strerror(errno));
	return 1;
}

static int serve(int port)
{
	char buf[MSG];
	int s = listen_ready(port, 1024);

	if (s < 0)
		return fail("listen");
	for (;;) {
		int c = accept(s, NULL, NULL);
		ssize_t got = 0, n;

		if (c < 0)
			continue;
		while (got < MSG && (n = read(c, buf + got, MSG - got)) > 0)
			got += n;
		if (got == MSG && write(c, buf, MSG) == MSG) {
			/* until the client's FIN: the close is the client's */
			while (read(c, buf, MSG) > 0)
				;
		}
		close(c);
	}
}

static int cmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/* Sleeps until the monotonic time at_us. */
static void sleep_until(double at_us)
{
	struct timespec ts = { .tv_sec = (time_t)(at_us / 1e6),
			       .tv_nsec = (long)((at_us - (double)(time_t)(at_us / 1e6) * 1e6) * 1e3) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int client(const char *host, const char *port, double seconds, double rate)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	float *samples = malloc(sizeof(float) * MAX_SAMPLES);
	char req[MSG], resp[MSG];
	long n = 0, slow = 0;
	double start, end;

	memset(req, 'q', sizeof(req));
	if (samples == NULL || getaddrinfo(host, port, &hints, &ai) != 0) {
		printf("{\"error\":\"cannot resolve %s\"}\n", host);
		return 1;
	}
	start = now_us();
	end = start + seconds * 1e6;
	for (double t = start; t < end; n++) {
		double t0;
		ssize_t got = 0, r;
		int s;

		if (rate > 0) {
			double at = start + (double)n * 1e6 / rate;

			if (at >= end)
				break;
			if (at > t)
				sleep_until(at);
			t = now_us();
		}
		t0 = t;
		s = socket(ai->ai_family, SOCK_STREAM, 0);
		if (s < 0)
			return fail("socket");
		if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0)
			return fail("connect");
		if (write(s, req, MSG) != MSG)
			return fail("write");
		while (got < MSG && (r = read(s, resp + got, MSG - got)) > 0)
			got += r;
		if (got != MSG) {
			printf("{\"error\":\"response of %zd bytes, not %d\"}\n", got, MSG);
			return 1;
		}
		close(s);
		t = now_us();
		slow += t - t0 > 200e3;
		if (n < MAX_SAMPLES)
			samples[n] = (float)(t - t0);
	}
	double took = (now_us() - start) / 1e6;
	long k = n < MAX_SAMPLES ? n : MAX_SAMPLES;

	qsort(samples, k, sizeof(float), cmp);
	printf("{\"conns\":%ld,\"seconds\":%.3f,\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"slow\":%ld}\n",
	       n, took, k ? samples[(k - 1) / 2] : 0.0, k ? samples[(long)((k - 1) * 0.99)] : 0.0,
	       k ? samples[k - 1] : 0.0, slow);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]));
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "client") == 0)
		return client(argv[2], argv[3], atof(argv[4]), argc == 6 ? atof(argv[5]) : 0);
	fprintf(stderr, "usage: service-crr serve PORT | client HOST PORT SECONDS [RATE]\n");
	return 2;
}
