#ifndef CORDON_BENCH_IPC_PAYLOAD_BENCH_H_
#define CORDON_BENCH_IPC_PAYLOAD_BENCH_H_

namespace cordon::bench {

// Prints the 1 MiB / 64 MiB payload table: every path run in the same loop, round-robin, one
// transfer each per round, so background load hits all paths alike. reps 0 = per-size default.
void RunPayloadBench(int reps);

}  // namespace cordon::bench

#endif  // CORDON_BENCH_IPC_PAYLOAD_BENCH_H_
