// strait-agent: the node daemon. Policy, pinned BPF state and the local API arrive
// with later work; today it states plainly that it has nothing to run.
process.stderr.write('strait-agent: not implemented yet in this build (the CNI plugin works on its own)\n');
process.exitCode = 2;
