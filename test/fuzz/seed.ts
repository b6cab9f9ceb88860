// One seed for every fuzz test: CI runs the same cases each time (a failure reproduces
// from the log), and STRAIT_FUZZ_SEED=<n> explores others locally.
const fromEnv = Number(process.env.STRAIT_FUZZ_SEED);
export const FUZZ_SEED = Number.isInteger(fromEnv) ? fromEnv : 20261201;
