#include "sandbox-profiles/seccomp_compiler.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "sandbox-profiles/build_id.h"
#include "sandbox-profiles/compiled_cache.h"
#include "sandbox-profiles/string_view_compat.h"
#include "sandbox-profiles/syscall_groups.h"

namespace cordon::profiles {
namespace {

static_assert(SeccompCompiler::kCloneNamespaceFlags ==
                  (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                   CLONE_NEWPID | CLONE_NEWNET),
              "clone namespace mask out of step with <sched.h>");

// clone's flags: the namespace bits must be clear and the exit signal (the low byte) must be
// none or SIGCHLD. Any other exit signal would let a process have the kernel deliver, say,
// SIGXFSZ to its parent when a child exits, and fake a quota kill the seccomp prologue
// otherwise makes unforgeable.
constexpr uint32_t kCloneExitSignalMask = 0xff;
constexpr uint32_t kCloneCheckedBits = SeccompCompiler::kCloneNamespaceFlags | kCloneExitSignalMask;

constexpr uint32_t kX32SyscallBit = 0x40000000;
constexpr uint32_t kNegativeSyscallBit = 0x80000000;
constexpr uint32_t kTiocsti = 0x5412;
constexpr uint32_t kTioclinux = 0x541C;
constexpr uint32_t kLow32 = 0xffffffffu;
// libseccomp's output for our allowlists is a few hundred instructions; the kernel's cap is
// BPF_MAXINSNS.
constexpr size_t kMaxProgramBytes = BPF_MAXINSNS * sizeof(sock_filter);

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

absl::Status LibseccompError(std::string_view what, int rc) {
  return absl::InternalError(
      absl::StrCat("libseccomp: ", Av(what), " failed: ", strerror(rc < 0 ? -rc : rc)));
}

// Hand-written prefix run before libseccomp's program. libseccomp cannot express "ioctl
// allowed except two requests compared on the low 32 bits" when the denial action equals the
// default action, and we want the architecture/x32 answer fixed by us rather than by its
// version-dependent code generation. Classic BPF jumps are relative, so prepending is safe;
// libseccomp's program reloads everything it needs.
std::vector<sock_filter> Prologue(uint32_t violation, uint32_t bad_arch) {
  constexpr uint32_t kArch = offsetof(struct seccomp_data, arch);
  constexpr uint32_t kNr = offsetof(struct seccomp_data, nr);
  // args[1] low word: x86_64 is little-endian.
  constexpr uint32_t kArg1Low = offsetof(struct seccomp_data, args) + sizeof(uint64_t);
  constexpr uint32_t kArg2Low = offsetof(struct seccomp_data, args) + 2 * sizeof(uint64_t);
  return {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArch),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, bad_arch),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNr),
      // x32 is bit 30 set and bit 31 clear. A number with bit 31 set (syscall(-1), which
      // a tracer uses to skip a call) is no ABI's syscall: it gets the violation action,
      // so it is denied and reported as the number it is, not killed as "x32".
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kX32SyscallBit, 0, 3),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kNegativeSyscallBit, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, violation),
      BPF_STMT(BPF_RET | BPF_K, bad_arch),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg1Low),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kTiocsti, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kTioclinux, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JA | BPF_K, 1, 0, 0),
      BPF_STMT(BPF_RET | BPF_K, violation),
      // SIGXCPU and SIGXFSZ come only from the kernel when an rlimit is exceeded; the launcher
      // reports such a death as a quota kill, so no sandboxed process may send them (a program
      // could otherwise forge a quota record). Signal number in args[1] (kill, tkill,
      // rt_sigqueueinfo, pidfd_send_signal) or args[2] (tgkill, rt_tgsigqueueinfo), low word.
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNr),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_kill, 6, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_tkill, 5, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigqueueinfo, 4, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_send_signal, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_tgkill, 4, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_tgsigqueueinfo, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JA | BPF_K, 7, 0, 0),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg1Low),
      BPF_JUMP(BPF_JMP | BPF_JA | BPF_K, 1, 0, 0),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg2Low),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SIGXCPU, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SIGXFSZ, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JA | BPF_K, 1, 0, 0),
      BPF_STMT(BPF_RET | BPF_K, violation),
  };
}

absl::StatusOr<std::vector<sock_filter>> Export(void* ctx) {
  int fd = memfd_create("cordon-seccomp-bpf", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("memfd_create: ", strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  // Debian's libseccomp 2.5.4 has no seccomp_export_bpf_mem, so go through a memfd.
  if (int rc = seccomp_export_bpf(ctx, fd); rc != 0) return LibseccompError("export", rc);
  struct stat st;
  if (fstat(fd, &st) != 0) return absl::InternalError(absl::StrCat("fstat: ", strerror(errno)));
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0 || size % sizeof(sock_filter) != 0 || size > kMaxProgramBytes) {
    return absl::InternalError(absl::StrCat("libseccomp exported ", size,
                                            " bytes; not a BPF program within the kernel's cap"));
  }
  std::vector<sock_filter> program(size / sizeof(sock_filter));
  size_t done = 0;
  char* dst = reinterpret_cast<char*>(program.data());
  while (done < size) {
    ssize_t n = pread(fd, dst + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::InternalError(absl::StrCat("reading BPF back: ", strerror(errno)));
    done += static_cast<size_t>(n);
  }
  return program;
}

struct PrctlOption {
  uint32_t value;
  const char* name;
};

// Options that only read state, name the thread, or tighten the process. Notably absent:
// PR_SET_MM, PR_SET_PTRACER, PR_SET_SECCOMP, PR_CAP_AMBIENT, PR_SET_SPECULATION_CTRL,
// PR_SET_SECUREBITS, PR_SET_KEEPCAPS, and PR_SET_DUMPABLE (the launcher may clear dumpable to
// keep the plugin's memory and /proc entries away from same-uid processes).
constexpr PrctlOption kSafePrctl[] = {
    {PR_SET_PDEATHSIG, "PR_SET_PDEATHSIG"},
    {PR_GET_PDEATHSIG, "PR_GET_PDEATHSIG"},
    {PR_GET_DUMPABLE, "PR_GET_DUMPABLE"},
    {PR_SET_NAME, "PR_SET_NAME"},
    {PR_GET_NAME, "PR_GET_NAME"},
    {PR_GET_SECCOMP, "PR_GET_SECCOMP"},
    {PR_CAPBSET_READ, "PR_CAPBSET_READ"},
    {PR_GET_SECUREBITS, "PR_GET_SECUREBITS"},
    {PR_GET_KEEPCAPS, "PR_GET_KEEPCAPS"},
    {PR_SET_TIMERSLACK, "PR_SET_TIMERSLACK"},
    {PR_GET_TIMERSLACK, "PR_GET_TIMERSLACK"},
    {PR_SET_CHILD_SUBREAPER, "PR_SET_CHILD_SUBREAPER"},
    {PR_GET_CHILD_SUBREAPER, "PR_GET_CHILD_SUBREAPER"},
    {PR_SET_NO_NEW_PRIVS, "PR_SET_NO_NEW_PRIVS"},
    {PR_GET_NO_NEW_PRIVS, "PR_GET_NO_NEW_PRIVS"},
    {PR_GET_TID_ADDRESS, "PR_GET_TID_ADDRESS"},
    {PR_SET_THP_DISABLE, "PR_SET_THP_DISABLE"},
    {PR_GET_THP_DISABLE, "PR_GET_THP_DISABLE"},
    {PR_GET_SPECULATION_CTRL, "PR_GET_SPECULATION_CTRL"},
    {PR_SET_VMA, "PR_SET_VMA"},
};

enum class RuleKind {
  kAllow,              // unconditional
  kCloneNoNamespaces,  // args[0] low word carries no CLONE_NEW* flag
  kUnixSocketsOnly,    // args[0] low word == AF_UNIX
  kPersonality,        // args[0] low word == 0 (PER_LINUX) or 0xffffffff (query)
  kSafePrctl,          // args[0] low word in kSafePrctl
  kEnosys,             // clone3
};

struct Rule {
  uint32_t nr;
  RuleKind kind;
  std::string_view name;
};

// One seccomp_rule_add_array call, described before it is made. The list of them, with the
// context's attributes and libseccomp's version, is everything libseccomp's output depends
// on, so it is also the key of the compiled-program cache.
struct LibseccompRule {
  uint32_t action;
  int nr;
  std::optional<scmp_arg_cmp> arg;  // every cordon rule compares at most one argument
  std::string_view name;
};

std::vector<LibseccompRule> LibseccompRules(const std::vector<Rule>& rules) {
  std::vector<LibseccompRule> out;
  out.reserve(rules.size() + std::size(kSafePrctl));
  for (const Rule& rule : rules) {
    const int nr = static_cast<int>(rule.nr);
    auto allow_if = [&](scmp_arg_cmp cmp) { out.push_back({SCMP_ACT_ALLOW, nr, cmp, rule.name}); };
    switch (rule.kind) {
      case RuleKind::kAllow:
        out.push_back({SCMP_ACT_ALLOW, nr, std::nullopt, rule.name});
        break;
      case RuleKind::kCloneNoNamespaces:
        // No CLONE_NEW* flag, and an exit signal (the low byte) of none (threads) or SIGCHLD.
        allow_if(SCMP_A0(SCMP_CMP_MASKED_EQ, kCloneCheckedBits, 0));
        allow_if(SCMP_A0(SCMP_CMP_MASKED_EQ, kCloneCheckedBits, SIGCHLD));
        break;
      case RuleKind::kUnixSocketsOnly:
        allow_if(SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, AF_UNIX));
        break;
      case RuleKind::kPersonality:
        allow_if(SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, 0));
        allow_if(SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, kLow32));
        break;
      case RuleKind::kSafePrctl:
        for (const PrctlOption& o : kSafePrctl)
          allow_if(SCMP_A0(SCMP_CMP_MASKED_EQ, kLow32, o.value));
        break;
      case RuleKind::kEnosys:
        out.push_back({SCMP_ACT_ERRNO(ENOSYS), nr, std::nullopt, rule.name});
        break;
    }
  }
  return out;
}

uint32_t LibseccompBadArch(bool user_notify) {
  // Unreachable behind our prologue, but keep libseccomp's own answer consistent.
  return user_notify ? SCMP_ACT_NOTIFY : SCMP_ACT_KILL_PROCESS;
}

// The build id of the code that compiles (libseccomp.so, or cordon's binary when libseccomp is
// linked in statically, the default): a distribution's patch to libseccomp's code generation
// keeps the version number but not the build id. Empty when there is none (then nothing is
// cached).
const std::string& LibseccompBuildId() {
  static const std::string* id =
      new std::string(BuildIdOf(reinterpret_cast<const void*>(&seccomp_init)));
  return *id;
}

// The reference implementation: the same rules through libseccomp (binary tree optimised).
absl::StatusOr<std::vector<sock_filter>> CompileWithLibseccomp(
    const std::vector<LibseccompRule>& calls, uint32_t scmp_violation, bool user_notify) {
  Ctx ctx(seccomp_init(scmp_violation));
  if (!ctx) return absl::InternalError("libseccomp: seccomp_init failed");
  void* c = ctx.get();
  // The launcher sets no_new_privs itself at the right step of the recipe.
  if (int rc = seccomp_attr_set(c, SCMP_FLTATR_CTL_NNP, 0); rc != 0) {
    return LibseccompError("clearing CTL_NNP", rc);
  }
  // Binary tree: O(log n) per syscall instead of a linear scan of a ~250-entry allowlist.
  if (int rc = seccomp_attr_set(c, SCMP_FLTATR_CTL_OPTIMIZE, 2); rc != 0) {
    return LibseccompError("setting CTL_OPTIMIZE=2", rc);
  }
  if (int rc = seccomp_attr_set(c, SCMP_FLTATR_ACT_BADARCH, LibseccompBadArch(user_notify));
      rc != 0) {
    return LibseccompError("setting ACT_BADARCH", rc);
  }
  for (const LibseccompRule& call : calls) {
    int rc = seccomp_rule_add_array(c, call.action, call.nr, call.arg ? 1 : 0,
                                    call.arg ? &*call.arg : nullptr);
    if (rc != 0) return LibseccompError(absl::StrCat("rule for ", Av(call.name)), rc);
  }
  return Export(c);
}

// The code for one rule, entered with the syscall number in A; always ends in a return.
void EmitRule(const Rule& rule, uint32_t violation, std::vector<sock_filter>* out) {
  // args[0] low word: x86_64 is little-endian. Every argument rule compares the low 32 bits
  // only (the kernel truncates these arguments to int), as the libseccomp rules do with a
  // 0xffffffff mask.
  constexpr uint32_t kArg0Low = offsetof(struct seccomp_data, args);
  const sock_filter load_arg0 = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg0Low);
  const sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  const sock_filter deny = BPF_STMT(BPF_RET | BPF_K, violation);
  switch (rule.kind) {
    case RuleKind::kAllow:
      out->push_back(allow);
      return;
    case RuleKind::kEnosys:
      out->push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
      return;
    case RuleKind::kCloneNoNamespaces:
      // A &= the checked bits; allowed when the rest is 0 (a thread) or SIGCHLD (a process).
      out->insert(out->end(), {load_arg0, BPF_STMT(BPF_ALU | BPF_AND | BPF_K, kCloneCheckedBits),
                               BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
                               BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SIGCHLD, 0, 1), allow, deny});
      return;
    case RuleKind::kUnixSocketsOnly:
      out->insert(out->end(),
                  {load_arg0, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1), allow, deny});
      return;
    case RuleKind::kPersonality:
      out->insert(out->end(), {load_arg0, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
                               BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kLow32, 0, 1), allow, deny});
      return;
    case RuleKind::kSafePrctl: {
      constexpr int kCount = static_cast<int>(std::size(kSafePrctl));
      static_assert(kCount < 250, "prctl option list must fit 8-bit BPF jump offsets");
      out->push_back(load_arg0);
      for (int i = 0; i < kCount; ++i) {
        // Equal: jump over the remaining comparisons and the deny to the allow.
        out->push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kSafePrctl[i].value,
                                static_cast<uint8_t>(kCount - i), 0));
      }
      out->insert(out->end(), {deny, allow});
      return;
    }
  }
}

// One interval [start, next range's start) of syscall numbers with one answer: a rule, or
// (rule == nullptr) the violation.
struct Range {
  uint32_t start;
  const Rule* rule;
};

// A binary search over ranges[lo, hi), entered with the syscall number in A. An inner node is
// one JGE (two instructions when its left half is too long for an 8-bit jump); a leaf is its
// range's answer. Consecutive allowed numbers share one range, so the program stays about as
// short as libseccomp's and the kernel's checker and JIT do no extra work.
std::vector<sock_filter> EmitRanges(const std::vector<Range>& ranges, size_t lo, size_t hi,
                                    uint32_t violation) {
  std::vector<sock_filter> out;
  if (hi - lo == 1) {
    if (ranges[lo].rule == nullptr) {
      out.push_back(BPF_STMT(BPF_RET | BPF_K, violation));
    } else {
      EmitRule(*ranges[lo].rule, violation, &out);
    }
    return out;
  }
  const size_t mid = lo + (hi - lo) / 2;
  std::vector<sock_filter> left = EmitRanges(ranges, lo, mid, violation);
  std::vector<sock_filter> right = EmitRanges(ranges, mid, hi, violation);
  if (left.size() <= 255) {
    out.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, ranges[mid].start,
                           static_cast<uint8_t>(left.size()), 0));
  } else {
    out.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, ranges[mid].start, 0, 1));
    out.push_back(BPF_STMT(BPF_JMP | BPF_JA | BPF_K, static_cast<uint32_t>(left.size())));
  }
  out.insert(out.end(), left.begin(), left.end());
  out.insert(out.end(), right.begin(), right.end());
  return out;
}

// cordon's own generator: the syscall number loaded, then a binary search over number ranges
// that ends in each rule's code or the violation. Same semantics as CompileWithLibseccomp,
// without its rule database: microseconds instead of ~0.8 ms of CPU and ~45 page faults per
// `cordon run` start (docs/performance-sandbox.md).
absl::StatusOr<std::vector<sock_filter>> CompileTree(std::vector<Rule> rules, uint32_t violation) {
  std::sort(rules.begin(), rules.end(), [](const Rule& a, const Rule& b) { return a.nr < b.nr; });
  for (size_t i = 1; i < rules.size(); ++i) {
    if (rules[i].nr == rules[i - 1].nr) {
      return absl::InternalError(absl::StrCat("seccomp: syscall '", Av(rules[i].name),
                                              "' has two rules (number ", rules[i].nr, ")"));
    }
  }
  // Ranges from 0 up; an unconditional allow extends the previous allowed range.
  std::vector<Range> ranges;
  uint32_t next = 0;  // first number not yet covered
  for (const Rule& rule : rules) {
    if (rule.nr > next || ranges.empty()) {
      if (rule.nr > 0) ranges.push_back({next, nullptr});
    }
    const bool extends = rule.kind == RuleKind::kAllow && !ranges.empty() &&
                         ranges.back().rule != nullptr &&
                         ranges.back().rule->kind == RuleKind::kAllow && rule.nr == next;
    if (!extends) ranges.push_back({rule.nr, &rule});
    next = rule.nr + 1;
  }
  if (next != 0) ranges.push_back({next, nullptr});  // next == 0: the last rule was 0xffffffff
  if (ranges.empty()) ranges.push_back({0, nullptr});

  constexpr uint32_t kNr = offsetof(struct seccomp_data, nr);
  std::vector<sock_filter> out = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNr)};
  std::vector<sock_filter> tree = EmitRanges(ranges, 0, ranges.size(), violation);
  out.insert(out.end(), tree.begin(), tree.end());
  return out;
}

}  // namespace

const std::vector<uint32_t>& SeccompCompiler::SafePrctlOptions() {
  static const auto* options = [] {
    auto* v = new std::vector<uint32_t>;
    for (const PrctlOption& o : kSafePrctl) v->push_back(o.value);
    return v;
  }();
  return *options;
}

uint32_t SeccompCompiler::ViolationAction(const cordon::v1::SeccompPolicy& policy,
                                          const SeccompCompileOptions& options) {
  if (options.user_notify) return SECCOMP_RET_USER_NOTIF;
  if (policy.on_violation() == cordon::v1::SeccompPolicy::KILL) return SECCOMP_RET_KILL_PROCESS;
  return SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
}

std::vector<std::string> SeccompCompiler::DescribeArgumentRules() {
  std::string prctl;
  for (const PrctlOption& o : kSafePrctl) {
    absl::StrAppend(&prctl, prctl.empty() ? "" : " ", o.name);
  }
  return {
      absl::StrFormat("clone: allowed only when flags & 0x%08x is 0 or SIGCHLD (no CLONE_NEWNS, "
                      "CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, "
                      "CLONE_NEWPID, CLONE_NEWNET; exit signal none or SIGCHLD; low 32 bits)",
                      kCloneCheckedBits),
      "clone3: always fails with ENOSYS (libc falls back to clone)",
      "socket, socketpair: domain must be AF_UNIX (1) (low 32 bits)",
      "ioctl: request TIOCSTI (0x5412) and TIOCLINUX (0x541c) refused, compared on the low 32 "
      "bits",
      "personality: only 0 (PER_LINUX) and 0xffffffff (query)",
      "kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal: SIGXCPU and "
      "SIGXFSZ refused (only the kernel sends them, so a death by them is a real quota hit)",
      absl::StrCat("prctl: only options ", prctl),
      "foreign architectures (i386) and x32 syscall numbers (nr & 0xc0000000 == 0x40000000): "
      "killed (user_notify: notified, then killed by the launcher); numbers with bit 31 set "
      "(negative) get the violation action",
  };
}

namespace {

// The whole compile, without the cache.
absl::StatusOr<SeccompProgram> CompileProgram(const cordon::v1::SeccompPolicy& policy,
                                              const SeccompCompileOptions& options) {
  absl::StatusOr<std::vector<SyscallGroups::Entry>> entries = SyscallGroups::Resolve(policy);
  if (!entries.ok()) return entries.status();

  const uint32_t violation = SeccompCompiler::ViolationAction(policy, options);
  const uint32_t bad_arch = options.user_notify ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_KILL_PROCESS;
  const uint32_t scmp_violation = options.user_notify                     ? SCMP_ACT_NOTIFY
                                  : violation == SECCOMP_RET_KILL_PROCESS ? SCMP_ACT_KILL_PROCESS
                                                                          : SCMP_ACT_ERRNO(EPERM);

  if (seccomp_arch_native() != SCMP_ARCH_X86_64) {
    return absl::UnimplementedError("seccomp compiler: only x86_64 hosts are supported");
  }
  SeccompProgram program;
  std::vector<Rule> rules;
  rules.reserve(entries->size() + 1);
  for (const SyscallGroups::Entry& entry : *entries) {
    const std::string& name = entry.name;
    std::optional<int> nr = SyscallGroups::Number(name);
    if (!nr) return absl::InvalidArgumentError(absl::StrCat("unknown syscall '", name, "'"));
    RuleKind kind = RuleKind::kAllow;
    if (name == "clone") {
      kind = RuleKind::kCloneNoNamespaces;
    } else if (name == "socket" || name == "socketpair") {
      kind = RuleKind::kUnixSocketsOnly;
    } else if (name == "personality") {
      kind = RuleKind::kPersonality;
    } else if (name == "prctl") {
      kind = RuleKind::kSafePrctl;
    } else if (name == "clone3") {
      return absl::InvalidArgumentError(
          "seccomp: 'clone3' cannot be allowed; it is always answered ENOSYS");
    }
    // ioctl's denials live in the prologue, so its rule here is unconditional.
    rules.push_back({static_cast<uint32_t>(*nr), kind, name});
    program.allowed_syscalls.push_back(name);
  }
  // clone3 passes its flags in memory the filter cannot read, so it can never be checked for
  // CLONE_NEW*; ENOSYS (not EPERM) makes glibc fall back to clone, which is checked.
  rules.push_back({static_cast<uint32_t>(__NR_clone3), RuleKind::kEnosys, "clone3"});

  absl::StatusOr<std::vector<sock_filter>> body =
      options.use_libseccomp
          ? CompileWithLibseccomp(LibseccompRules(rules), scmp_violation, options.user_notify)
          : CompileTree(std::move(rules), violation);
  if (!body.ok()) return body.status();
  program.instructions = Prologue(violation, bad_arch);
  program.instructions.insert(program.instructions.end(), body->begin(), body->end());
  if (program.instructions.size() > BPF_MAXINSNS) {
    return absl::InvalidArgumentError(
        absl::StrCat("compiled seccomp program has ", program.instructions.size(),
                     " instructions; the kernel allows ", BPF_MAXINSNS, "; allow fewer syscalls"));
  }
  return program;
}

// What a cached program depends on: the policy as given, the notify mode, and the build ids of
// the code that turns a policy into rules (this binary: groups, argument rules, prologue) and
// of libseccomp's code (the same object when it is linked statically, the default). "" when a
// build id is missing: then nothing is cached.
std::string CacheInput(const cordon::v1::SeccompPolicy& policy, bool user_notify) {
  static const std::string* compiler =
      new std::string(BuildIdOf(reinterpret_cast<const void*>(&SeccompCompiler::Compile)));
  const std::string& libseccomp = LibseccompBuildId();
  if (compiler->empty() || libseccomp.empty()) return "";
  const scmp_version* version = seccomp_version();
  return absl::StrFormat(
      "cordon seccomp 2\ncompiler %s\nlibseccomp %u.%u.%u build-id %s\n"
      "notify %d\npolicy %s",
      *compiler, version->major, version->minor, version->micro, libseccomp, user_notify ? 1 : 0,
      policy.SerializeAsString());
}

// A cached result: the instruction count, the instructions, then the allowed names, one per
// line.
std::string EncodeCached(const SeccompProgram& program) {
  const uint32_t count = static_cast<uint32_t>(program.instructions.size());
  std::string out(reinterpret_cast<const char*>(&count), sizeof count);
  out.append(reinterpret_cast<const char*>(program.instructions.data()),
             program.instructions.size() * sizeof(sock_filter));
  out.append(absl::StrJoin(program.allowed_syscalls, "\n"));
  return out;
}

std::optional<SeccompProgram> DecodeCached(std::string_view bytes) {
  uint32_t count = 0;
  if (bytes.size() < sizeof count) return std::nullopt;
  std::memcpy(&count, bytes.data(), sizeof count);
  bytes.remove_prefix(sizeof count);
  if (count == 0 || count > BPF_MAXINSNS || bytes.size() < count * sizeof(sock_filter)) {
    return std::nullopt;
  }
  SeccompProgram program;
  program.instructions.resize(count);
  std::memcpy(program.instructions.data(), bytes.data(), count * sizeof(sock_filter));
  bytes.remove_prefix(count * sizeof(sock_filter));
  if (!bytes.empty()) {
    for (absl::string_view name : absl::StrSplit(Av(bytes), '\n')) {
      program.allowed_syscalls.emplace_back(name);
    }
  }
  program.from_cache = true;
  return program;
}

}  // namespace

absl::StatusOr<SeccompProgram> SeccompCompiler::Compile(const cordon::v1::SeccompPolicy& policy,
                                                        const SeccompCompileOptions& options) {
  // The libseccomp path only: the own generator costs microseconds and is not cached.
  const std::string input = options.use_libseccomp && options.cache != nullptr
                                ? CacheInput(policy, options.user_notify)
                                : "";
  if (input.empty()) return CompileProgram(policy, options);
  constexpr std::string_view kKind = "seccomp";
  constexpr size_t kMaxCached = 4 + kMaxProgramBytes + 64 * 1024;  // + the allowed names
  if (std::optional<std::string> cached = options.cache->Lookup(kKind, input, kMaxCached)) {
    if (std::optional<SeccompProgram> program = DecodeCached(*cached)) return *std::move(program);
  }
  absl::StatusOr<SeccompProgram> compiled = CompileProgram(policy, options);
  // A cache that cannot be written costs the next start a compile, nothing else.
  if (compiled.ok()) (void)options.cache->Store(kKind, input, EncodeCached(*compiled));
  return compiled;
}

}  // namespace cordon::profiles
