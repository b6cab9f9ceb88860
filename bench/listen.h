/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The listening socket of the bench tools' servers (service-crr.c, windowed.c): one
 * IPv6 socket that takes IPv4 too (v4-mapped), on every address, the port reusable
 * at once after a run. Prints "ready" once listening, which the benches wait for.
 */
#ifndef BENCH_LISTEN_H
#define BENCH_LISTEN_H

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* The listening fd, or -1 with errno set. */
static int listen_ready(int port, int backlog)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	int one = 1, zero = 0;
	int s = socket(AF_INET6, SOCK_STREAM, 0);

	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, backlog) < 0) {
		close(s);
		return -1;
	}
	printf("ready\n");
	fflush(stdout);
	return s;
}

#endif
