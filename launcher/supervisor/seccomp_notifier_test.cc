// The launcher's handling of seccomp notifications this kernel cannot produce: it has no IA32
// emulation and no x32 ABI, so i386 and x32 calls never reach the listener here. Crafted
// notifications go through the same steps as real ones: SeccompNotifier::Decode (what
// Receive makes of the kernel's struct), SandboxSupervisor::Judge (the answer) and
// PluginAuditor::RecordViolation (the record, read back from a real audit log).
#include "launcher/supervisor/seccomp_notifier.h"

#include <linux/audit.h>
#include <sys/syscall.h>

#include <cstring>
#include <memory>
#include <string>

#include "audit/json_value.h"
#include "gtest/gtest.h"
#include "launcher/supervisor/plugin_auditor.h"
#include "launcher/supervisor/sandbox_supervisor.h"
#include "launcher/supervisor/testing/audit_capture.h"

namespace cordon::supervisor {
namespace {

constexpr uint32_t kX32Bit = 0x40000000;
// i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl); x86_64 has others.
constexpr int32_t kI386Getpid = 20;
constexpr int32_t kI386Mount = 21;

struct seccomp_notif Notification(uint32_t arch, int32_t nr) {
  struct seccomp_notif n;
  memset(&n, 0, sizeof(n));
  n.id = 0x1234;
  n.pid = 4242;
  n.data.arch = arch;
  n.data.nr = nr;
  n.data.instruction_pointer = 0x8049000;
  for (int i = 0; i < 6; ++i) n.data.args[i] = 0x1000u + static_cast<uint64_t>(i);
  return n;
}

TEST(SeccompNotifierTest, I386CallsAreNamedFromTheI386TableAndForeign) {
  SeccompViolation getpid = SeccompNotifier::Decode(Notification(AUDIT_ARCH_I386, kI386Getpid));
  EXPECT_EQ(getpid.arch_name, "i386");
  EXPECT_EQ(getpid.name, "getpid");  // x86_64's 20 is writev
  EXPECT_EQ(getpid.nr, kI386Getpid);
  EXPECT_TRUE(getpid.foreign_arch);

  SeccompViolation mount = SeccompNotifier::Decode(Notification(AUDIT_ARCH_I386, kI386Mount));
  EXPECT_EQ(mount.name, "mount");  // x86_64's 21 is access
  EXPECT_TRUE(mount.foreign_arch);
}

TEST(SeccompNotifierTest, X32CallsAreNamedFromTheX32TableAndForeign) {
  SeccompViolation v =
      SeccompNotifier::Decode(Notification(AUDIT_ARCH_X86_64, kX32Bit | __NR_getpid));
  EXPECT_EQ(v.arch_name, "x32");
  EXPECT_EQ(v.name, "getpid");
  EXPECT_EQ(v.nr, static_cast<int32_t>(kX32Bit | __NR_getpid)) << "the x32 bit stays in nr";
  EXPECT_TRUE(v.foreign_arch);
}

TEST(SeccompNotifierTest, NativeCallsAreNotForeign) {
  SeccompViolation v = SeccompNotifier::Decode(Notification(AUDIT_ARCH_X86_64, __NR_mount));
  EXPECT_EQ(v.arch_name, "x86_64");
  EXPECT_EQ(v.name, "mount");
  EXPECT_FALSE(v.foreign_arch);
}

// syscall(-1) and other numbers with bit 31 set carry bit 30 too, but they are no x32 call:
// reported as the native number they are, unnamed (not one of libseccomp's negative
// pseudo-syscall names), and not killed as a foreign ABI.
TEST(SeccompNotifierTest, NegativeNumbersAreNativeAndUnknown) {
  for (int32_t nr :
       {-1, -2, -101, -10001, static_cast<int32_t>(0x80000000), static_cast<int32_t>(0xc0000027)}) {
    SeccompViolation v = SeccompNotifier::Decode(Notification(AUDIT_ARCH_X86_64, nr));
    EXPECT_EQ(v.arch_name, "x86_64") << nr;
    EXPECT_EQ(v.name, "unknown") << nr;
    EXPECT_EQ(v.nr, nr);
    EXPECT_FALSE(v.foreign_arch) << nr;
  }
  EXPECT_FALSE(IsX32SyscallNumber(AUDIT_ARCH_X86_64, -1));
  EXPECT_TRUE(IsX32SyscallNumber(AUDIT_ARCH_X86_64, 0x7fffffff));
  EXPECT_FALSE(IsX32SyscallNumber(AUDIT_ARCH_I386, static_cast<int32_t>(kX32Bit)));
}

TEST(SeccompNotifierTest, DecodeKeepsTheCallersArgumentsPidAndId) {
  SeccompViolation v = SeccompNotifier::Decode(Notification(AUDIT_ARCH_I386, kI386Mount));
  EXPECT_EQ(v.id, 0x1234u);
  EXPECT_EQ(v.pid, 4242);
  EXPECT_EQ(v.arch, static_cast<uint32_t>(AUDIT_ARCH_I386));
  EXPECT_EQ(v.instruction_pointer, 0x8049000u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(v.args[i], 0x1000u + static_cast<uint64_t>(i));
}

// A foreign ABI is killed whatever the profile says, learn mode included; a native call gets
// the profile's on_violation.
TEST(SeccompNotifierTest, ForeignAbiCallsAreAlwaysKilled) {
  const SeccompViolation i386 = SeccompNotifier::Decode(Notification(AUDIT_ARCH_I386, kI386Getpid));
  const SeccompViolation x32 =
      SeccompNotifier::Decode(Notification(AUDIT_ARCH_X86_64, kX32Bit | __NR_getpid));
  const SeccompViolation native = SeccompNotifier::Decode(Notification(AUDIT_ARCH_X86_64, -1));
  SupervisorOptions eperm;
  SupervisorOptions kill;
  kill.kill_on_violation = true;
  SupervisorOptions learn;
  learn.danger_learn_mode = true;
  for (const SupervisorOptions* options : {&eperm, &kill, &learn}) {
    for (const SeccompViolation* foreign : {&i386, &x32}) {
      ViolationVerdict verdict = SandboxSupervisor::Judge(*foreign, *options);
      EXPECT_EQ(verdict.action, "kill") << foreign->arch_name;
      EXPECT_TRUE(verdict.kill);
      EXPECT_FALSE(verdict.learn);
      EXPECT_EQ(verdict.kill_reason, KillReason::kForeignArchitecture);
    }
  }
  EXPECT_EQ(SandboxSupervisor::Judge(native, eperm).action, "eperm");
  EXPECT_EQ(SandboxSupervisor::Judge(native, eperm).kill_reason, KillReason::kNone);
  EXPECT_EQ(SandboxSupervisor::Judge(native, kill).action, "kill");
  EXPECT_EQ(SandboxSupervisor::Judge(native, kill).kill_reason, KillReason::kSeccompViolation);
  EXPECT_EQ(SandboxSupervisor::Judge(native, learn).action, "continue-learning");
}

TEST(SeccompNotifierTest, I386KillIsRecordedWithEveryField) {
  testing::AuditCapture capture;
  const SeccompViolation v = SeccompNotifier::Decode(Notification(AUDIT_ARCH_I386, kI386Mount));
  const ViolationVerdict verdict = SandboxSupervisor::Judge(v, SupervisorOptions{});
  ASSERT_TRUE(capture.auditor().RecordViolation(v, verdict.action).ok());
  EXPECT_EQ(capture.auditor().violation_counts().count("mount (i386)"), 1u)
      << "an i386 call is counted apart from the native syscall of the same name";

  std::vector<audit::JsonValue> records = capture.Records();
  ASSERT_EQ(records.size(), 1u);
  const audit::JsonValue* record = &records[0];
  auto text = [&](const char* key) {
    const audit::JsonValue* f = record->Find(key);
    return f != nullptr && f->is_string() ? f->string_value() : "<missing>";
  };
  auto number = [&](const char* key) {
    const audit::JsonValue* f = record->Find(key);
    int64_t out = -12345;
    if (f != nullptr) f->ToInt64(&out);
    return out;
  };
  EXPECT_EQ(text("type"), "seccomp.violation");
  EXPECT_EQ(text("decision"), "deny");
  EXPECT_EQ(text("syscall"), "mount");
  EXPECT_EQ(number("nr"), kI386Mount);
  EXPECT_EQ(text("arch"), "i386");
  EXPECT_EQ(text("action"), "kill");
  EXPECT_EQ(number("host_pid"), 4242);
  EXPECT_EQ(number("ip"), 0x8049000);
  const audit::JsonValue* args = record->Find("args");
  ASSERT_NE(args, nullptr);
  ASSERT_TRUE(args->is_array());
  ASSERT_EQ(args->array().size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    uint64_t arg = 0;
    ASSERT_TRUE(args->array()[i].ToUint64(&arg));
    EXPECT_EQ(arg, 0x1000u + i);
  }
}

}  // namespace
}  // namespace cordon::supervisor
