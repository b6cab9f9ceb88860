/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Small compiler helpers every BPF source uses. bpf_helpers.h defines some of
 * these too; the guards keep whichever comes first.
 */
#ifndef STRAIT_COMPILER_H
#define STRAIT_COMPILER_H

#include <stdbool.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif

#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#endif /* STRAIT_COMPILER_H */
