// Imported first by the agent's entry, before anything can start libuv's thread pool
// (which reads this once): every DEL the agent serves holds a pool thread while the
// kernel tears its veth down (Netlink.deleteLinkEarly, 20-30 ms), and with the
// default four a burst of DELs would queue behind each other's teardown.
process.env.UV_THREADPOOL_SIZE ??= '32';
export {};
