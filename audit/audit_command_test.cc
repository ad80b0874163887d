#include "audit/audit_command.h"

#include <limits.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/audit_log.h"
#include "audit/log_files.h"
#include "audit/record_line.h"
#include "audit/testing/audit_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cordon::audit {
namespace {

using ::cordon::audit::testing::JoinLines;
using ::cordon::audit::testing::Lines;
using ::cordon::audit::testing::ReadFile;
using ::cordon::audit::testing::TempDir;
using ::cordon::audit::testing::WriteFile;
using ::testing::HasSubstr;
using ::testing::Not;

struct CmdResult {
  int code;
  std::string out;
  std::string err;
};

CmdResult Cmd(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int code = RunAuditCommand(args, out, err);
  return {code, out.str(), err.str()};
}

class AuditCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AuditLogOptions o;
    o.path = path_;
    o.rotate_bytes = 2048;
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    auto append = [&](AuditRecord r) { ASSERT_TRUE((*log)->Append(r).ok()); };
    append(AuditRecord("launcher.start").Set("version", "0.1.0"));
    for (int i = 0; i < 20; ++i) {
      AuditRecord r("seccomp.violation");
      r.SetPlugin("p-a", "alpha", "1.0").SetDecision("deny");
      r.Set("syscall", i % 4 == 0 ? "mount" : "ptrace").Set("nr", 101).Set("action", "errno");
      append(r);
    }
    for (int i = 0; i < 10; ++i) {
      AuditRecord r("capability.use");
      r.SetPlugin("p-b", "beta\x1b[31m", "2.0").SetDecision(i < 3 ? "deny" : "allow");
      r.Set("capability", "fs.open").Set("path", "/etc/shadow\nFAKE");
      append(r);
    }
    AuditRecord q("quota.violation");
    q.SetPlugin("p-b", "beta\x1b[31m", "2.0").Set("quota", "memory").Set("limit", 1 << 20);
    q.Set("observed", 2 << 20).Set("action", "killed");
    append(q);
  }

  TempDir dir_;
  std::string path_ = dir_.File("audit.jsonl");
};

TEST_F(AuditCommandTest, HelpAndUsage) {
  EXPECT_EQ(Cmd({"--help"}).code, 0);
  EXPECT_THAT(Cmd({"--help"}).out, HasSubstr("verify"));
  EXPECT_EQ(Cmd({}).code, 2);
  EXPECT_EQ(Cmd({"frobnicate"}).code, 2);
  EXPECT_EQ(Cmd({"query", "--bogus", path_}).code, 2);
  EXPECT_EQ(Cmd({"query", "--since", "yesterday", path_}).code, 2);
  EXPECT_EQ(Cmd({"verify", dir_.File("missing")}).code, 2);
  EXPECT_EQ(Cmd({"verify", "--help"}).code, 0);
}

TEST_F(AuditCommandTest, VerifyFindsRotatedFilesAndReportsTampering) {
  ASSERT_GT(LogFiles::ListRotated(path_)->size(), 2u);
  CmdResult ok = Cmd({"verify", path_});
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("OK: 32 records, seq 1..32"));
  CmdResult partial = Cmd({"verify", "--no-rotated", path_});
  EXPECT_EQ(partial.code, 1);
  EXPECT_EQ(Cmd({"verify", "--no-rotated", "--allow-missing-head", path_}).code, 0);

  const std::string victim = (*LogFiles::ListRotated(path_))[1].path;
  auto lines = Lines(ReadFile(victim));
  auto first = RecordLine::Parse(lines[0]);
  ASSERT_TRUE(first.ok());
  lines[0].replace(lines[0].find("\"ts\":\"") + 6, 4, "1999");
  WriteFile(victim, JoinLines(lines));
  CmdResult bad = Cmd({"verify", path_});
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.out, HasSubstr(absl::StrCat("first bad seq ", first->seq)));
}

TEST(AuditCommandKeyTest, VerifyWithKeyFile) {
  TempDir dir;
  const std::string key = dir.File("key");
  WriteFile(key, "0123456789abcdef0123456789abcdef\n");
  AuditLogOptions o;
  o.path = dir.File("k.jsonl");
  o.hmac_key_file = key;
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(AuditRecord("launcher.start")).ok());
  }
  EXPECT_EQ(Cmd({"verify", "--key-file", key, o.path}).code, 0);
  CmdResult no_key = Cmd({"verify", o.path});
  EXPECT_EQ(no_key.code, 1);
  EXPECT_THAT(no_key.out, HasSubstr("--key-file"));
  EXPECT_EQ(Cmd({"verify", "--key-file", dir.File("nokey"), o.path}).code, 2);
}

TEST_F(AuditCommandTest, VerifyAnchorDetectsTruncation) {
  EXPECT_EQ(Cmd({"verify", "--expect-last", "32", path_}).code, 0);
  EXPECT_EQ(Cmd({"verify", "--expect-last", "33", path_}).code, 1);
  EXPECT_EQ(Cmd({"verify", "--expect-last", "x", path_}).code, 2);
}

TEST_F(AuditCommandTest, QueryFilters) {
  CmdResult all = Cmd({"query", "--format", "json", path_});
  EXPECT_EQ(all.code, 0);
  EXPECT_EQ(Lines(all.out).size(), 32u);
  EXPECT_EQ(Lines(Cmd({"query", "--type", "seccomp.violation", path_}).out).size(), 20u);
  EXPECT_EQ(Lines(Cmd({"query", "--type", "capability.*", path_}).out).size(), 10u);
  EXPECT_EQ(Lines(Cmd({"query", "--plugin", "p-b", path_}).out).size(), 11u);
  EXPECT_EQ(Lines(Cmd({"query", "--plugin", "alpha", path_}).out).size(), 20u);
  EXPECT_EQ(Lines(Cmd({"query", "--decision", "deny", "--plugin", "p-b", path_}).out).size(), 3u);
  EXPECT_EQ(Lines(Cmd({"query", "--seq-from", "5", "--seq-to", "9", path_}).out).size(), 5u);
  EXPECT_EQ(
      Lines(Cmd({"query", "--since", "2000-01-01", "--until", "2999-01-01", path_}).out).size(),
      32u);
  EXPECT_EQ(Cmd({"query", "--until", "2000-01-01", path_}).out, "");
  EXPECT_EQ(Cmd({"query", "--since", "2999-01-01", path_}).out, "");
  // A bound inside the log splits it: the records at or after the 10th record's time.
  auto tenth = RecordLine::Parse(Lines(all.out)[9]);
  ASSERT_TRUE(tenth.ok());
  size_t later = 0;
  for (const std::string& l : Lines(all.out)) later += RecordLine::Parse(l)->ts >= tenth->ts;
  EXPECT_EQ(Lines(Cmd({"query", "--since", tenth->ts, path_}).out).size(), later);
  EXPECT_LT(later, 32u);
  // JSON output is the original line; each parses as a record.
  for (const std::string& l : Lines(all.out)) EXPECT_TRUE(RecordLine::Parse(l).ok());
  // The table never passes a raw escape or newline from the plugin to the terminal.
  CmdResult table = Cmd({"query", "--plugin", "p-b", path_});
  EXPECT_THAT(table.out, Not(HasSubstr("\x1b")));
  EXPECT_THAT(table.out, HasSubstr("beta\\u001b[31m"));
  EXPECT_EQ(Lines(table.out).size(), 11u);
}

TEST_F(AuditCommandTest, Summary) {
  {
    AuditLogOptions o;
    o.path = path_;
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    AuditRecord denied_quota("quota.violation");
    denied_quota.SetPlugin("p-b", "beta\x1b[31m", "2.0").Set("quota", "pids");
    denied_quota.Set("action", "denied");
    ASSERT_TRUE((*log)->Append(denied_quota).ok());
    AuditRecord burst("seccomp.violation");
    burst.SetPlugin("p-a", "alpha", "1.0").SetDecision("deny");
    burst.Set("syscall", "mount").Set("action", "eperm").Set("suppressed", 100);
    ASSERT_TRUE((*log)->Append(burst).ok());
    // The overflow window: its calls belong to many syscalls, not to its last call's.
    AuditRecord overflow("seccomp.violation");
    overflow.SetPlugin("p-a", "alpha", "1.0").SetDecision("deny");
    overflow.Set("syscall", "ptrace").Set("action", "eperm").Set("suppressed", 499);
    overflow.Set("counted_syscalls", "many");
    ASSERT_TRUE((*log)->Append(overflow).ok());
  }
  CmdResult s = Cmd({"summary", path_});
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_THAT(s.out, HasSubstr("35 records, 3 plugin(s)"));
  EXPECT_THAT(s.out, HasSubstr("alpha (p-a)"));
  // The aggregated burst record counts for 1 + 100 calls; a denied quota is not a kill.
  EXPECT_THAT(s.out, HasSubstr("top denied syscalls: (many syscalls)=500 mount=106 ptrace=15"));
  EXPECT_THAT(s.out, HasSubstr("top denied capabilities: fs.open=3"));
  EXPECT_THAT(s.out, HasSubstr("quota kills: memory=1"));
  EXPECT_THAT(s.out, HasSubstr("decisions: allow=7 deny=3"));
  EXPECT_THAT(s.out, Not(HasSubstr("\x1b")));
  EXPECT_THAT(Cmd({"summary", "--until", "2000-01-01", path_}).out, HasSubstr("0 records"));
}

// More records than the active file holds: tail reaches back into the rotated files, in
// order, without gaps (the fixture's 32 records span several 2 KiB files).
TEST_F(AuditCommandTest, TailLastNSpansRotatedFiles) {
  CmdResult t = Cmd({"tail", "-n", "1000", "--format", "json", path_});
  EXPECT_EQ(t.code, 0);
  auto lines = Lines(t.out);
  ASSERT_EQ(lines.size(), 32u);
  for (size_t i = 0; i < lines.size(); ++i) {
    auto r = RecordLine::Parse(lines[i]);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->seq, i + 1);
  }
}

TEST_F(AuditCommandTest, TailLastN) {
  CmdResult t = Cmd({"tail", "-n", "2", "--format", "json", path_});
  EXPECT_EQ(t.code, 0);
  auto lines = Lines(t.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(RecordLine::Parse(lines[1])->type, "quota.violation");
}

// An ostream target that several threads may use, and that lets a test wait for output.
class LineSink : public std::streambuf {
 public:
  size_t WaitForLines(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return lines_ >= n; });
    return lines_;
  }
  std::string text() {
    std::lock_guard<std::mutex> l(mu_);
    return text_;
  }

 protected:
  int overflow(int c) override {
    if (c == EOF) return 0;
    char ch = static_cast<char>(c);
    xsputn(&ch, 1);
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard<std::mutex> l(mu_);
    text_.append(s, n);
    for (std::streamsize i = 0; i < n; ++i) lines_ += s[i] == '\n';
    cv_.notify_all();
    return n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
  size_t lines_ = 0;
};

// `cordon audit tail ARGS...` on a thread of its own, printing into a LineSink.
class TailThread {
 public:
  explicit TailThread(std::vector<std::string> args)
      : thread_([this, args] {
          code_ = RunAuditCommand(args, out_, err_);
          done_ = true;
        }) {}
  LineSink& sink() { return sink_; }
  bool done() const { return done_; }
  // Waits for tail to exit; its exit status.
  int Join() {
    thread_.join();
    return code_;
  }
  // What tail wrote to stderr; only after Join.
  std::string err() const { return err_.str(); }

 private:
  LineSink sink_;
  std::ostream out_{&sink_};
  std::ostringstream err_;
  std::atomic<int> code_{-1};
  std::atomic<bool> done_{false};
  std::thread thread_;  // last: it starts once everything it uses exists
};

TEST(AuditTailFollowTest, FollowsAcrossRotation) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("live.jsonl");
  o.rotate_bytes = 2048;
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(AuditRecord("launcher.start")).ok());
  constexpr int kTotal = 200;
  TailThread tail({"tail", "-f", "-n", "100", "--format", "json", "--max-records",
                   absl::StrCat(kTotal), o.path});
  tail.sink().WaitForLines(1);  // tail has the file open before any rotation happens
  for (int i = 1; i < kTotal; ++i) {
    AuditRecord r("plugin.ready");
    r.Set("i", i);
    ASSERT_TRUE((*log)->Append(r).ok());
  }
  EXPECT_EQ(tail.Join(), 0) << tail.err();
  ASSERT_GT(LogFiles::ListRotated(o.path)->size(), 5u);
  auto lines = Lines(tail.sink().text());
  ASSERT_EQ(lines.size(), size_t{kTotal});
  for (int i = 0; i < kTotal; ++i) {
    auto r = RecordLine::Parse(lines[i]);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->seq, uint64_t(i + 1));
  }
}

// -n 0 prints nothing that exists at start, and rotations later must not make it re-read the
// log from its first record (the follow position is the newest seq present at start).
TEST(AuditTailFollowTest, ZeroLastRecordsNeverReplaysAfterRotation) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("live.jsonl");
  o.rotate_bytes = 1;  // every append after the first rotates: one record per file
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(AuditRecord("plugin.ready")).ok());
  // Learns when tail has opened the active file: records appended after that are either
  // "existing" (not printed) or followed, never replayed.
  const int watch_fd = inotify_init1(IN_CLOEXEC);
  ASSERT_GE(watch_fd, 0);
  ASSERT_GE(inotify_add_watch(watch_fd, o.path.c_str(), IN_OPEN), 0);
  constexpr int kFollowed = 3;
  TailThread tail({"tail", "-f", "-n", "0", "--format", "json", "--max-records",
                   absl::StrCat(kFollowed), o.path});
  char event[sizeof(inotify_event) + NAME_MAX + 1];
  ASSERT_GT(read(watch_fd, event, sizeof event), 0);
  close(watch_fd);
  // Bounded: tail stops after kFollowed records appended after its first read.
  for (int i = 0; i < 10000 && !tail.done(); ++i) {
    ASSERT_TRUE((*log)->Append(AuditRecord("plugin.ready")).ok());
  }
  EXPECT_EQ(tail.Join(), 0) << tail.err();
  auto lines = Lines(tail.sink().text());
  ASSERT_EQ(lines.size(), size_t{kFollowed});
  uint64_t previous = 0;
  for (const std::string& l : lines) {
    auto r = RecordLine::Parse(l);
    ASSERT_TRUE(r.ok());
    EXPECT_GT(r->seq, 3u) << "replayed a record that existed before tail started";
    if (previous != 0) {
      EXPECT_EQ(r->seq, previous + 1);
    }
    previous = r->seq;
  }
}

// A launcher that crashed mid-record restarts under a running `tail -f`: Open cuts the torn
// record and writes audit.recovered where it began. tail held the torn bytes as a partial
// line; it must print audit.recovered and what follows exactly, never a line glued together
// from the torn bytes and the new ones, and never skip audit.recovered.
TEST(AuditTailFollowTest, FollowsARestartThatCutATornRecord) {
  TempDir dir;
  AuditLogOptions o;
  o.path = dir.File("live.jsonl");
  {
    auto log = AuditLog::Open(o);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(AuditRecord("plugin.ready")).ok());
  }
  const std::string torn =
      "{\"seq\":4,\"ts\":\"2026-01-01T00:00:00.000000000Z\",\"type\":\"plugin.ready\"," +
      std::string("\"pad\":\"") + std::string(300, 'x');
  WriteFile(o.path, ReadFile(o.path) + torn);
  constexpr int kTotal = 5;
  TailThread tail(
      {"tail", "-f", "-n", "3", "--format", "json", "--max-records", absl::StrCat(kTotal), o.path});
  // tail prints the last records only after reading to the end of the file: it now holds
  // the torn bytes as an incomplete line.
  tail.sink().WaitForLines(3);
  {
    auto log = AuditLog::Open(o);  // cuts the torn record, appends audit.recovered
    ASSERT_TRUE(log.ok()) << log.status();
    // Bounded: tail stops after kTotal records; a broken one would wait for more.
    for (int i = 0; i < 10000 && !tail.done(); ++i) {
      ASSERT_TRUE((*log)->Append(AuditRecord("plugin.ready")).ok());
    }
  }
  EXPECT_EQ(tail.Join(), 0) << tail.err();
  EXPECT_EQ(tail.err(), "");
  const std::vector<std::string> file = Lines(ReadFile(o.path));
  const std::vector<std::string> printed = Lines(tail.sink().text());
  ASSERT_EQ(printed.size(), size_t{kTotal});
  ASSERT_GE(file.size(), size_t{kTotal});
  EXPECT_EQ(RecordLine::Parse(file[3])->type, "audit.recovered");
  for (int i = 0; i < kTotal; ++i) EXPECT_EQ(printed[i], file[i]) << "record " << i + 1;
}

// The table escapes every field it prints, ts included (a forged or edited log can hold
// anything there).
TEST(AuditCommandQueryTest, TableEscapesTheTimestamp) {
  TempDir dir;
  const std::string path = dir.File("forged.jsonl");
  WriteFile(path,
            "{\"seq\":1,\"ts\":\"\\u001b[2J\\u001b[31mX\",\"type\":\"plugin.ready\",\"prev\":\"" +
                std::string(64, '0') + "\",\"hash\":\"" + std::string(64, 'a') + "\"}\n");
  CmdResult q = Cmd({"query", path});
  EXPECT_EQ(q.code, 0) << q.err;
  EXPECT_THAT(q.out, HasSubstr("\\u001b[2J"));
  EXPECT_EQ(q.out.find('\x1b'), std::string::npos) << q.out;
}

}  // namespace
}  // namespace cordon::audit
