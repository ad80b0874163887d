#include "sandbox-profiles/bpf_evaluator.h"

#include <linux/audit.h>

#include <cstddef>
#include <vector>

#include "gtest/gtest.h"

namespace cordon::profiles {
namespace {

seccomp_data Data(int nr, uint32_t arch = AUDIT_ARCH_X86_64) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = arch;
  return d;
}

TEST(BpfEvaluatorTest, ReturnsConstant) {
  std::vector<sock_filter> p = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  EXPECT_EQ(*BpfEvaluator::Evaluate(p, Data(0)), SECCOMP_RET_ALLOW);
}

TEST(BpfEvaluatorTest, BranchesOnLoadedFields) {
  std::vector<sock_filter> p = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args) + 8),  // args[1] low
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 10, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  seccomp_data d = Data(1);
  EXPECT_EQ(*BpfEvaluator::Evaluate(p, d), SECCOMP_RET_ALLOW);
  d.args[1] = 11;
  EXPECT_EQ(*BpfEvaluator::Evaluate(p, d), SECCOMP_RET_ERRNO | 1);
  // Only the low word was loaded: the high word must not matter.
  d.args[1] = 0xffffffff00000005ull;
  EXPECT_EQ(*BpfEvaluator::Evaluate(p, d), SECCOMP_RET_ALLOW);
  d.arch = AUDIT_ARCH_I386;
  EXPECT_EQ(*BpfEvaluator::Evaluate(p, d), SECCOMP_RET_KILL_PROCESS);
}

TEST(BpfEvaluatorTest, AluScratchAndJset) {
  std::vector<sock_filter> p = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf0),
      BPF_STMT(BPF_ST, 3),
      BPF_STMT(BPF_LDX | BPF_MEM, 3),
      BPF_STMT(BPF_MISC | BPF_TXA, 0),
      BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x2, 0, 1),
      BPF_STMT(BPF_RET | BPF_A, 0),
      BPF_STMT(BPF_RET | BPF_K, 99),
  };
  EXPECT_EQ(*BpfEvaluator::Evaluate(p, Data(0x2f)), 2u);
  EXPECT_EQ(*BpfEvaluator::Evaluate(p, Data(0x1f)), 99u);
}

TEST(BpfEvaluatorTest, RejectsWhatTheKernelRejects) {
  std::vector<sock_filter> oob_load = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64),
                                       BPF_STMT(BPF_RET | BPF_K, 0)};
  EXPECT_FALSE(BpfEvaluator::Evaluate(oob_load, Data(0)).ok());
  std::vector<sock_filter> unaligned = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2),
                                        BPF_STMT(BPF_RET | BPF_K, 0)};
  EXPECT_FALSE(BpfEvaluator::Evaluate(unaligned, Data(0)).ok());
  std::vector<sock_filter> byte_load = {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
                                        BPF_STMT(BPF_RET | BPF_K, 0)};
  EXPECT_FALSE(BpfEvaluator::Evaluate(byte_load, Data(0)).ok());
  std::vector<sock_filter> far_jump = {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 0),
                                       BPF_STMT(BPF_RET | BPF_K, 0)};
  EXPECT_FALSE(BpfEvaluator::Evaluate(far_jump, Data(0)).ok());
  std::vector<sock_filter> no_return = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)};
  EXPECT_FALSE(BpfEvaluator::Evaluate(no_return, Data(0)).ok());
  std::vector<sock_filter> div_zero = {BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0),
                                       BPF_STMT(BPF_RET | BPF_K, 0)};
  EXPECT_FALSE(BpfEvaluator::Evaluate(div_zero, Data(0)).ok());
  EXPECT_FALSE(BpfEvaluator::Evaluate({}, Data(0)).ok());
}

}  // namespace
}  // namespace cordon::profiles
