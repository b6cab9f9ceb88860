// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * transport: runs one program of transport.bpf.o (emit_ringbuf, emit_perf or
 * emit_none) through BPF_PROG_TEST_RUN on every CPU at once, one producer thread
 * pinned to each, while a consumer thread drains the buffer as a reader would: the
 * contention flow events meet when every CPU emits. Prints one JSON line: the
 * program's cost per event (the kernel's own average over the runs), events made,
 * received and refused, and the consumer's CPU time per event.
 *
 *   transport OBJ ringbuf|perf|none EVENTS_PER_CPU [BATCH PAUSE_US]
 *
 * Without BATCH the producers run flat out (a flood: more than any reader keeps up
 * with). With BATCH and PAUSE_US each producer emits BATCH events, then sleeps
 * PAUSE_US: a paced rate, to find what is received without loss.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CPUS 64

struct producer {
	int prog_fd;
	int cpu;
	long events;
	long batch;
	long pause_us;
	double ns_sum; /* sum over test runs of (avg ns per run * runs) */
	long runs;
	int err;
};

static atomic_int stop;
static atomic_long received;
static atomic_long lost_reported;

static double now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *produce(void *arg)
{
	struct producer *p = arg;
	unsigned char frame[64] = { [12] = 0x08, [13] = 0x00, [14] = 0x45 };
	cpu_set_t set;
	long done = 0;

	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (done < p->events) {
		long n = p->batch ? p->batch : p->events - done;
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
			    .repeat = (int)n);

		if (n > p->events - done)
			n = opts.repeat = (int)(p->events - done);
		if (bpf_prog_test_run_opts(p->prog_fd, &opts) < 0) {
			p->err = errno;
			return NULL;
		}
		p->ns_sum += (double)opts.duration * n;
		p->runs += n;
		done += n;
		if (p->pause_us)
			usleep((useconds_t)p->pause_us);
	}
	return NULL;
}

static int on_ring(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
	return 0;
}

static void on_perf(void *ctx, int cpu, void *data, __u32 size)
{
	(void)ctx;
	(void)cpu;
	(void)data;
	(void)size;
	atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
}

/* perf_buffer__new_raw's callback: a sample or a lost record, as the kernel wrote it. */
static enum bpf_perf_event_ret on_perf_raw(void *ctx, int cpu, struct perf_event_header *ev)
{
	struct lost_rec {
		struct perf_event_header h;
		__u64 id;
		__u64 lost;
	} *lost = (struct lost_rec *)ev;

	(void)ctx;
	(void)cpu;
	if (ev->type == PERF_RECORD_SAMPLE)
		atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
	else if (ev->type == PERF_RECORD_LOST)
		atomic_fetch_add_explicit(&lost_reported, (long)lost->lost, memory_order_relaxed);
	return LIBBPF_PERF_EVENT_CONT;
}

static void on_perf_lost(void *ctx, int cpu, __u64 count)
{
	(void)ctx;
	(void)cpu;
	atomic_fetch_add_explicit(&lost_reported, (long)count, memory_order_relaxed);
}

struct consumer {
	struct ring_buffer *rb;
	struct perf_buffer *pb;
	int timer;
	double cpu_s;
};

static void *consume(void *arg)
{
	struct consumer *c = arg;
	double t0 = now_s(CLOCK_THREAD_CPUTIME_ID);

	while (!atomic_load(&stop)) {
		if (c->timer) {
			/* A reader on a timer: no wakeups asked for, drained every 10 ms. */
			usleep(10000);
			if (c->rb)
				ring_buffer__consume(c->rb);
			if (c->pb)
				perf_buffer__consume(c->pb);
		} else if (c->rb)
			ring_buffer__poll(c->rb, 10);
		else if (c->pb)
			perf_buffer__poll(c->pb, 10);
		else
			usleep(10000);
	}
	if (c->rb)
		ring_buffer__consume(c->rb);
	if (c->pb)
		perf_buffer__consume(c->pb);
	c->cpu_s = now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
	return NULL;
}

static long sum_counts(int fd, __u32 slot, int ncpus)
{
	__u64 vals[MAX_CPUS] = { 0 };
	long sum = 0;

	if (bpf_map_lookup_elem(fd, &slot, vals) < 0)
		return -1;
	for (int i = 0; i < ncpus; i++)
		sum += (long)vals[i];
	return sum;
}

int main(int argc, char **argv)
{
	struct producer prods[MAX_CPUS] = { 0 };
	pthread_t pt[MAX_CPUS], ct;
	struct consumer cons = { 0 };
	struct bpf_object *obj;
	struct bpf_program *prog;
	int ncpus = libbpf_num_possible_cpus();
	char name[32];
	double t0, wall;

	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: %s OBJ ringbuf|perf|none EVENTS_PER_CPU [BATCH PAUSE_US]\n",
			argv[0]);
		return 2;
	}
	if (ncpus <= 0 || ncpus > MAX_CPUS) {
		fprintf(stderr, "unexpected cpu count %d\n", ncpus);
		return 1;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "loading %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	snprintf(name, sizeof(name), "emit_%s", strncmp(argv[2], "perf", 4) == 0 ? "perf" : argv[2]);
	if (strcmp(argv[2], "ringbuf-quiet") == 0)
		strcpy(name, "emit_ringbuf_quiet");
	prog = bpf_object__find_program_by_name(obj, name);
	if (!prog) {
		fprintf(stderr, "no program %s\n", name);
		return 1;
	}
	cons.timer = strstr(argv[2], "quiet") != NULL;
	if (strncmp(argv[2], "ringbuf", 7) == 0)
		cons.rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "ring"), on_ring,
					   NULL, NULL);
	else if (strcmp(argv[2], "perf") == 0)
		/* 128 pages per CPU: the same memory as the 1 MiB ring on 2 CPUs. */
		cons.pb = perf_buffer__new(bpf_object__find_map_fd_by_name(obj, "perf"),
					   (size_t)(256 / ncpus), on_perf, on_perf_lost, NULL, NULL);
	else if (strncmp(argv[2], "perf-", 5) == 0) {
		/* The same, but the reader is woken once per 64 events rather than for each
		 * (wakeup_events), as a reader that polls on a timer would set it. */
		struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE,
						.config = PERF_COUNT_SW_BPF_OUTPUT,
						.sample_type = PERF_SAMPLE_RAW,
						.sample_period = 1,
						.wakeup_events = cons.timer ? 1U << 30 : 64 };
		int cpus[MAX_CPUS], maps[MAX_CPUS];
		LIBBPF_OPTS(perf_buffer_raw_opts, ropts, .cpu_cnt = ncpus, .cpus = cpus,
			    .map_keys = maps);

		for (int i = 0; i < ncpus; i++)
			cpus[i] = maps[i] = i;
		cons.pb = perf_buffer__new_raw(bpf_object__find_map_fd_by_name(obj, "perf"),
					       (size_t)(256 / ncpus), &attr, on_perf_raw, NULL,
					       &ropts);
	}
	if ((strcmp(argv[2], "none") != 0) && !cons.rb && !cons.pb) {
		fprintf(stderr, "opening the %s reader: %s\n", argv[2], strerror(errno));
		return 1;
	}
	pthread_create(&ct, NULL, consume, &cons);
	t0 = now_s(CLOCK_MONOTONIC);
	for (int i = 0; i < ncpus; i++) {
		prods[i] = (struct producer){ .prog_fd = bpf_program__fd(prog),
					      .cpu = i,
					      .events = atol(argv[3]),
					      .batch = argc == 6 ? atol(argv[4]) : 0,
					      .pause_us = argc == 6 ? atol(argv[5]) : 0 };
		pthread_create(&pt[i], NULL, produce, &prods[i]);
	}
	double ns = 0;
	long runs = 0;
	for (int i = 0; i < ncpus; i++) {
		pthread_join(pt[i], NULL);
		if (prods[i].err) {
			fprintf(stderr, "test run on cpu %d: %s\n", i, strerror(prods[i].err));
			return 1;
		}
		ns += prods[i].ns_sum;
		runs += prods[i].runs;
	}
	wall = now_s(CLOCK_MONOTONIC) - t0;
	usleep(100000); /* let the reader catch up with what is still in the buffer */
	atomic_store(&stop, 1);
	pthread_join(ct, NULL);

	int counts = bpf_object__find_map_fd_by_name(obj, "counts");
	long emitted = sum_counts(counts, 0, ncpus), refused = sum_counts(counts, 1, ncpus);
	long got = atomic_load(&received);
	printf("{\"transport\":\"%s\",\"cpus\":%d,\"events\":%ld,\"ns_per_event\":%.1f,"
	       "\"wall_s\":%.3f,\"rate\":%.0f,\"emitted\":%ld,\"refused\":%ld,\"received\":%ld,"
	       "\"lost_reported\":%ld,\"reader_cpu_ns_per_event\":%.1f}\n",
	       argv[2], ncpus, runs, ns / (double)runs, wall, (double)runs / wall, emitted, refused,
	       got, atomic_load(&lost_reported), got ? cons.cpu_s * 1e9 / (double)got : 0.0);
	ring_buffer__free(cons.rb);
	perf_buffer__free(cons.pb);
	bpf_object__close(obj);
	return 0;
}
