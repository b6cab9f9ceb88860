// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A SYN flood for bench/xdp-uplink.mjs, built by it at run time (cc -O2): IPv4 TCP
 * SYNs from one address to one address and port, each from another source port
 * (1024 of them, checksums right), written to an AF_PACKET socket in batches with
 * sendmmsg and PACKET_QDISC_BYPASS, for a number of seconds as fast as one CPU
 * can. Prints one JSON line: frames sent, seconds, and the CPU time this process
 * used (user + system; without IRQ time accounting the softirq work done in its
 * context, the receiving veth's included, counts as its system time).
 *   usage: syn-flood IFACE SRC_MAC DST_MAC SRC_IP DST_IP DPORT SECONDS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define FRAMES 1024
#define BATCH 64
#define FRAME_LEN (ETH_HLEN + 20 + 20)

static uint8_t frames[FRAMES][FRAME_LEN];

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	return sum;
}

static int parse_mac(const char *s, uint8_t *mac)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		      &mac[4], &mac[5]) == 6 ?
		       0 :
		       -1;
}

static void build(uint8_t *f, const uint8_t *src_mac, const uint8_t *dst_mac, struct in_addr src,
		  struct in_addr dst, uint16_t sport, uint16_t dport)
{
	struct ether_header *eth = (void *)f;
	struct iphdr *ip = (void *)(f + ETH_HLEN);
	struct tcphdr *tcp = (void *)(ip + 1);
	uint32_t sum;

	memcpy(eth->ether_shost, src_mac, ETH_ALEN);
	memcpy(eth->ether_dhost, dst_mac, ETH_ALEN);
	eth->ether_type = htons(ETHERTYPE_IP);
	*ip = (struct iphdr){ .version = 4,
			      .ihl = 5,
			      .tot_len = htons(40),
			      .ttl = 64,
			      .protocol = IPPROTO_TCP,
			      .saddr = src.s_addr,
			      .daddr = dst.s_addr };
	ip->check = htons(csum_fold(csum_add(0, ip, sizeof(*ip))));
	*tcp = (struct tcphdr){ .source = htons(sport),
				.dest = htons(dport),
				.seq = htonl(sport),
				.doff = 5,
				.syn = 1,
				.window = htons(64240) };
	/* pseudo header: addresses, protocol, TCP length */
	sum = csum_add(0, &ip->saddr, 8) + IPPROTO_TCP + sizeof(*tcp);
	tcp->check = htons(csum_fold(csum_add(sum, tcp, sizeof(*tcp))));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint8_t src_mac[ETH_ALEN], dst_mac[ETH_ALEN];
	struct in_addr src, dst;
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_halen = ETH_ALEN };
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	unsigned long long sent = 0;
	struct rusage ru;
	double start, seconds;
	int one = 1, fd, next = 0;

	if (argc != 8 || parse_mac(argv[2], src_mac) || parse_mac(argv[3], dst_mac) ||
	    !inet_aton(argv[4], &src) || !inet_aton(argv[5], &dst)) {
		fprintf(stderr, "usage: %s IFACE SRC_MAC DST_MAC SRC_IP DST_IP DPORT SECONDS\n",
			argv[0]);
		return 2;
	}
	seconds = atof(argv[7]);
	ll.sll_ifindex = (int)if_nametoindex(argv[1]);
	memcpy(ll.sll_addr, dst_mac, ETH_ALEN);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0 || ll.sll_ifindex == 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0) {
		perror("syn-flood: socket");
		return 1;
	}
	for (int i = 0; i < FRAMES; i++)
		build(frames[i], src_mac, dst_mac, src, dst, (uint16_t)(20000 + i),
		      (uint16_t)atoi(argv[6]));

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_name = &ll;
		msgs[i].msg_hdr.msg_namelen = sizeof(ll);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		iov[i].iov_len = FRAME_LEN;
	}
	start = now();
	while (now() - start < seconds) {
		int n;

		for (int i = 0; i < BATCH; i++)
			iov[i].iov_base = frames[(next + i) % FRAMES];
		n = sendmmsg(fd, msgs, BATCH, 0);
		if (n < 0) {
			perror("syn-flood: sendmmsg");
			return 1;
		}
		sent += (unsigned long long)n;
		next = (next + n) % FRAMES;
	}
	seconds = now() - start;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"sent\":%llu,\"seconds\":%.6f,\"cpuSeconds\":%.6f}\n", sent, seconds,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
		       ru.ru_stime.tv_usec / 1e6);
	return 0;
}
