// Audit log append throughput in batch and sync mode, side by side with plain write(2) (and
// write+fdatasync) of the very same bytes in the same run, so the ratio shows what the chain,
// escaping and locking cost on this machine and disk.
//
//   audit_bench [--dir DIR] [--records N] [--sync-records N] [--threads T] [--rounds R]
//               [--batch-interval-ms MS]

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "audit/audit_record.h"

namespace {

int g_batch_interval_ms = 200;

using Clock = std::chrono::steady_clock;
using cordon::audit::AuditLog;
using cordon::audit::AuditLogOptions;
using cordon::audit::AuditRecord;
using cordon::audit::Durability;

AuditRecord MakeRecord(int i) {
  AuditRecord r("capability.use");
  r.SetPlugin("3f2a9c1e", "thumbnailer", "1.4.2").SetDecision(i % 7 == 0 ? "deny" : "allow");
  r.Set("capability", "fs.open").Set("path", "/srv/images/in/photo-0001.jpg");
  r.Set("flags", "O_RDONLY").Set("host_pid", 4242).Set("request_id", static_cast<int64_t>(i));
  return r;
}

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Appends n records with `threads` writers; returns seconds.
double RunAudit(const std::string& path, Durability d, const std::string& key, int n, int threads) {
  std::filesystem::remove(path);
  AuditLogOptions o;
  o.path = path;
  o.durability = d;
  o.hmac_key_file = key;
  o.batch_interval = absl::Milliseconds(g_batch_interval_ms);
  auto log = AuditLog::Open(o);
  if (!log.ok()) {
    fprintf(stderr, "open %s: %s\n", path.c_str(), std::string(log.status().message()).c_str());
    exit(1);
  }
  std::vector<AuditRecord> recs;
  for (int i = 0; i < 64; ++i) recs.push_back(MakeRecord(i));
  const auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = t; i < n; i += threads) {
        if (!(*log)->Append(recs[i % recs.size()]).ok()) {
          fprintf(stderr, "append failed\n");
          exit(1);
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  const auto t1 = Clock::now();
  return Seconds(t0, t1);
}

// Writes the lines of `src` one write(2) per line into a new file (optionally fdatasync
// after each); returns seconds and the number of lines.
double RunPlain(const std::string& src, const std::string& dst, bool sync, int* lines_out) {
  std::ifstream in(src);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l + "\n");
  std::filesystem::remove(dst);
  const int fd = open(dst.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    perror("open");
    exit(1);
  }
  const auto t0 = Clock::now();
  for (const std::string& l : lines) {
    if (write(fd, l.data(), l.size()) != static_cast<ssize_t>(l.size())) {
      perror("write");
      exit(1);
    }
    if (sync && fdatasync(fd) != 0) {
      perror("fdatasync");
      exit(1);
    }
  }
  const auto t1 = Clock::now();
  close(fd);
  *lines_out = static_cast<int>(lines.size());
  return Seconds(t0, t1);
}

void Row(const char* name, int n, double secs, double baseline_rate) {
  const double rate = n / secs;
  printf("%-34s %9d rec %9.3f s %12.0f rec/s", name, n, secs, rate);
  if (baseline_rate > 0) printf("   %5.2fx of plain", rate / baseline_rate);
  printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/var/tmp";
  int n = 200000;
  int sync_n = 2000;
  int threads = 2;
  int rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--dir")
      dir = argv[i + 1];
    else if (a == "--records")
      n = atoi(argv[i + 1]);
    else if (a == "--sync-records")
      sync_n = atoi(argv[i + 1]);
    else if (a == "--threads")
      threads = atoi(argv[i + 1]);
    else if (a == "--rounds")
      rounds = atoi(argv[i + 1]);
    else if (a == "--batch-interval-ms")
      g_batch_interval_ms = atoi(argv[i + 1]);
  }
  const std::string base = dir + "/cordon-audit-bench-" + std::to_string(getpid());
  const std::string key = base + ".key";
  { std::ofstream(key) << "bench-key-0123456789abcdef0123456789\n"; }
  printf("audit append throughput, dir %s (%s)\n", dir.c_str(),
         std::filesystem::exists(dir) ? "exists" : "missing");

  // Interleaved rounds, best of each: the machine is shared, so a single run mostly measures
  // the neighbours; the best round is the closest to what this code costs.
  double best[8] = {1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30};
  int lines = 0, sync_lines = 0;
  auto keep = [&](int i, double s) { best[i] = std::min(best[i], s); };
  for (int round = 0; round < rounds; ++round) {
    keep(1, RunAudit(base + ".batch", Durability::kBatch, "", n, 1));
    keep(0, RunPlain(base + ".batch", base + ".plain", false, &lines));
    std::filesystem::remove(base + ".plain");
    keep(2, RunAudit(base + ".batchmt", Durability::kBatch, "", n, threads));
    std::filesystem::remove(base + ".batchmt");
    keep(3, RunAudit(base + ".hmac", Durability::kBatch, key, n, 1));
    std::filesystem::remove(base + ".hmac");
    keep(5, RunAudit(base + ".sync", Durability::kSync, "", sync_n, 1));
    keep(4, RunPlain(base + ".sync", base + ".plainsync", true, &sync_lines));
    std::filesystem::remove(base + ".plainsync");
    keep(6, RunAudit(base + ".syncmt", Durability::kSync, "", sync_n, 4));
    std::filesystem::remove(base + ".syncmt");
  }
  const double plain_rate = lines / best[0];
  const double plain_sync_rate = sync_lines / best[4];
  printf("best of %d interleaved rounds; record size %.0f bytes\n", rounds,
         static_cast<double>(std::filesystem::file_size(base + ".batch")) / n);
  Row("plain write(2), 1 per record", lines, best[0], 0);
  Row("audit batch, 1 thread", n, best[1], plain_rate);
  const std::string mt_name = "audit batch, " + std::to_string(threads) + " threads";
  Row(mt_name.c_str(), n, best[2], plain_rate);
  Row("audit batch + HMAC, 1 thread", n, best[3], plain_rate);
  Row("plain write+fdatasync per record", sync_lines, best[4], 0);
  Row("audit sync, 1 thread", sync_n, best[5], plain_sync_rate);
  Row("audit sync, 4 threads (group commit)", sync_n, best[6], plain_sync_rate);

  for (const char* suffix :
       {".batch", ".plain", ".batchmt", ".hmac", ".sync", ".plainsync", ".syncmt", ".key"}) {
    std::filesystem::remove(base + suffix);
  }
  return 0;
}
