#include "sandbox-profiles/bpf_evaluator.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sandbox-profiles/string_view_compat.h"

namespace cordon::profiles {
namespace {

constexpr size_t kMaxInstructions = BPF_MAXINSNS;
constexpr uint32_t kScratchSlots = BPF_MEMWORDS;

absl::Status Bad(size_t pc, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("BPF instruction ", pc, ": ", Av(what)));
}

}  // namespace

absl::StatusOr<uint32_t> BpfEvaluator::Evaluate(absl::Span<const sock_filter> program,
                                                const struct seccomp_data& data) {
  if (program.empty() || program.size() > kMaxInstructions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BPF program has ", program.size(), " instructions; expected 1..", kMaxInstructions));
  }
  unsigned char bytes[sizeof(struct seccomp_data)];
  std::memcpy(bytes, &data, sizeof(bytes));
  uint32_t a = 0;
  uint32_t x = 0;
  uint32_t mem[kScratchSlots] = {};
  // Jumps only go forward, so the walk ends within program.size() steps.
  for (size_t pc = 0; pc < program.size(); ++pc) {
    const sock_filter& in = program[pc];
    const uint32_t k = in.k;
    switch (BPF_CLASS(in.code)) {
      case BPF_LD:
      case BPF_LDX: {
        const bool to_x = BPF_CLASS(in.code) == BPF_LDX;
        uint32_t value = 0;
        switch (BPF_MODE(in.code)) {
          case BPF_ABS:
            // seccomp only permits aligned 32-bit loads from seccomp_data, into A.
            if (to_x || BPF_SIZE(in.code) != BPF_W) return Bad(pc, "only ld [k] words allowed");
            if (k % 4 != 0 || k + 4 > sizeof(bytes)) {
              return Bad(pc, absl::StrCat("load offset ", k, " outside seccomp_data"));
            }
            std::memcpy(&value, bytes + k, 4);
            break;
          case BPF_IMM:
            value = k;
            break;
          case BPF_MEM:
            if (k >= kScratchSlots) return Bad(pc, "scratch slot out of range");
            value = mem[k];
            break;
          case BPF_LEN:
            value = sizeof(struct seccomp_data);
            break;
          default:
            return Bad(pc, "unsupported load mode");
        }
        (to_x ? x : a) = value;
        break;
      }
      case BPF_ST:
      case BPF_STX:
        if (k >= kScratchSlots) return Bad(pc, "scratch slot out of range");
        mem[k] = BPF_CLASS(in.code) == BPF_ST ? a : x;
        break;
      case BPF_ALU: {
        const uint32_t operand = BPF_SRC(in.code) == BPF_X ? x : k;
        switch (BPF_OP(in.code)) {
          case BPF_ADD:
            a += operand;
            break;
          case BPF_SUB:
            a -= operand;
            break;
          case BPF_MUL:
            a *= operand;
            break;
          case BPF_DIV:
            if (operand == 0) return Bad(pc, "division by zero");
            a /= operand;
            break;
          case BPF_MOD:
            if (operand == 0) return Bad(pc, "division by zero");
            a %= operand;
            break;
          case BPF_OR:
            a |= operand;
            break;
          case BPF_AND:
            a &= operand;
            break;
          case BPF_XOR:
            a ^= operand;
            break;
          case BPF_LSH:
            a = operand >= 32 ? 0 : a << operand;
            break;
          case BPF_RSH:
            a = operand >= 32 ? 0 : a >> operand;
            break;
          case BPF_NEG:
            a = -a;
            break;
          default:
            return Bad(pc, "unsupported ALU op");
        }
        break;
      }
      case BPF_JMP: {
        if (BPF_OP(in.code) == BPF_JA) {
          if (k >= program.size() - pc - 1) return Bad(pc, "jump out of program");
          pc += k;
          break;
        }
        const uint32_t operand = BPF_SRC(in.code) == BPF_X ? x : k;
        bool taken = false;
        switch (BPF_OP(in.code)) {
          case BPF_JEQ:
            taken = a == operand;
            break;
          case BPF_JGT:
            taken = a > operand;
            break;
          case BPF_JGE:
            taken = a >= operand;
            break;
          case BPF_JSET:
            taken = (a & operand) != 0;
            break;
          default:
            return Bad(pc, "unsupported jump op");
        }
        const size_t offset = taken ? in.jt : in.jf;
        if (offset >= program.size() - pc - 1) return Bad(pc, "jump out of program");
        pc += offset;
        break;
      }
      case BPF_RET:
        if (BPF_RVAL(in.code) == BPF_K) return k;
        if (BPF_RVAL(in.code) == BPF_A) return a;
        return Bad(pc, "unsupported return source");
      case BPF_MISC:
        if (BPF_MISCOP(in.code) == BPF_TAX) {
          x = a;
        } else if (BPF_MISCOP(in.code) == BPF_TXA) {
          a = x;
        } else {
          return Bad(pc, "unsupported misc op");
        }
        break;
      default:
        return Bad(pc, "unknown instruction class");
    }
  }
  return absl::InvalidArgumentError("BPF program fell off its end without a return");
}

}  // namespace cordon::profiles
