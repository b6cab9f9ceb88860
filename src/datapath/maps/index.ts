// TypeScript mirror of bpf/include/maps.h and bpf/include/drop.h: map names, struct
// layouts, and codecs for every key and value. maps.h is the source of truth;
// test/bpf/maps-btf.test.ts holds this directory to it.
export * from './cidr.js';
export * from './config.js';
export * from './counters.js';
export * from './ct.js';
export * from './ep-counters.js';
export * from './events.js';
export * from './fib.js';
export * from './drop.js';
export * from './endpoints.js';
export * from './frag.js';
export * from './ipcache.js';
export * from './layout.js';
export * from './lb.js';
export * from './links.js';
export * from './names.js';
export * from './policy.js';
export * from './remote.js';
export * from './vni.js';
