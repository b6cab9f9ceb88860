// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The two ways a tc program can hand events to user space, side by side, for
 * bench/event-transport.mjs: the BPF ring buffer (one buffer shared by all CPUs,
 * reserve then submit in place) and the perf event array (one buffer per CPU, the
 * event copied in by bpf_perf_event_output). Each program fills the same 80-byte
 * record from the packet; "none" fills it and emits nothing, the cost of the rest.
 * Not part of the datapath: it exists to measure which transport flow events use.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct bench_event {
	__u64 time_ns;
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 fill[8];
	__u32 seq;
	__u32 cpu;
};
_Static_assert(sizeof(struct bench_event) == 80, "bench_event size");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

/* [0] events handed over, [1] refused (buffer full), per CPU; [2] sink for "none". */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void bump(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&counts, &slot);

	if (c)
		*c += 1;
}

static __always_inline void fill(struct bench_event *ev, struct __sk_buff *skb)
{
	ev->time_ns = bpf_ktime_get_ns();
	ev->saddr[0] = skb->len;
	ev->daddr[0] = skb->protocol;
	ev->seq = skb->hash;
	ev->cpu = bpf_get_smp_processor_id();
}

/* Reserve, fill, submit in place; flags: 0 wakes a reader that has caught up. */
static __always_inline int emit_ring(struct __sk_buff *skb, __u64 flags)
{
	struct bench_event *ev = bpf_ringbuf_reserve(&ring, sizeof(*ev), 0);

	if (!ev) {
		bump(1);
		return TC_ACT_OK;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	fill(ev, skb);
	bpf_ringbuf_submit(ev, flags);
	bump(0);
	return TC_ACT_OK;
}

SEC("tc")
int emit_ringbuf(struct __sk_buff *skb)
{
	return emit_ring(skb, 0);
}

/* The same without waking the reader: it drains the ring on a timer. */
SEC("tc")
int emit_ringbuf_quiet(struct __sk_buff *skb)
{
	return emit_ring(skb, BPF_RB_NO_WAKEUP);
}

SEC("tc")
int emit_perf(struct __sk_buff *skb)
{
	struct bench_event ev = {};

	fill(&ev, skb);
	if (bpf_perf_event_output(skb, &perf, BPF_F_CURRENT_CPU, &ev, sizeof(ev)) < 0)
		bump(1);
	else
		bump(0);
	return TC_ACT_OK;
}

SEC("tc")
int emit_none(struct __sk_buff *skb)
{
	struct bench_event ev = {};
	__u32 slot = 2;
	__u64 *c;

	fill(&ev, skb);
	c = bpf_map_lookup_elem(&counts, &slot);
	if (c)
		*c += ev.seq + ev.cpu;
	bump(0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
