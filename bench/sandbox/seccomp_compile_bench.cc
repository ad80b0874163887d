// CPU cost of producing a plugin's seccomp program, side by side in one run (interleaved
// rounds): libseccomp compiling it (what every start paid before the cache), the same program
// found in the compiled-program cache, and cordon's opt-in own generator. Each row is the
// median over rounds of the mean CPU time per compile (CLOCK_PROCESS_CPUTIME_ID).
//
//   build/bench/sandbox/cordon_seccomp_compile_bench [ROUNDS] [COMPILES_PER_ROUND]
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sandbox-profiles/profile_loader.h"
#include "sandbox-profiles/seccomp_compiler.h"
#include "sandbox-profiles/compiled_cache.h"

namespace {

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  using cordon::profiles::SeccompCompileOptions;
  using cordon::profiles::SeccompCompiler;
  const int rounds = argc > 1 ? atoi(argv[1]) : 30;
  const int per_round = argc > 2 ? atoi(argv[2]) : 20;
  char tmpl[] = "/tmp/cordon-compile-bench.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = std::string(tmpl) + "/cache";
  auto cache = cordon::profiles::CompiledCache::Open(dir);
  if (!cache.ok()) {
    fprintf(stderr, "%s\n", std::string(cache.status().message()).c_str());
    return 1;
  }
  std::printf("%-10s %-38s %12s %8s\n", "profile", "how", "cpu_us/prog", "vs_lib");
  for (const char* name : {"minimal", "default"}) {
    auto profile = cordon::profiles::ProfileLoader::Load(name);
    if (!profile.ok()) {
      fprintf(stderr, "%s\n", std::string(profile.status().message()).c_str());
      return 1;
    }
    const cordon::v1::SeccompPolicy policy = profile->seccomp();
    SeccompCompileOptions libseccomp;
    libseccomp.user_notify = true;
    SeccompCompileOptions cached = libseccomp;
    cached.cache = cache->get();
    SeccompCompileOptions own = libseccomp;
    own.use_libseccomp = false;
    if (!SeccompCompiler::Compile(policy, cached).ok()) return 1;  // fills the cache
    struct Row {
      const char* how;
      SeccompCompileOptions options;
      std::vector<double> samples;
    };
    std::vector<Row> rows = {{"libseccomp compile (no cache)", libseccomp, {}},
                             {"libseccomp program from the cache", cached, {}},
                             {"own generator (opt-in)", own, {}}};
    for (int r = 0; r < rounds; ++r) {
      for (Row& row : rows) {
        const double start = CpuSeconds();
        for (int i = 0; i < per_round; ++i) {
          auto program = SeccompCompiler::Compile(policy, row.options);
          if (!program.ok()) return 1;
          if ((row.options.cache != nullptr) != program->from_cache) {
            fprintf(stderr, "cache hit expected exactly for the cached row\n");
            return 1;
          }
        }
        row.samples.push_back((CpuSeconds() - start) / per_round * 1e6);
      }
    }
    const double reference = Median(rows[0].samples);
    for (Row& row : rows) {
      const double us = Median(row.samples);
      std::printf("%-10s %-38s %12.1f %7.2fx\n", name, row.how, us, us / reference);
    }
  }
  std::filesystem::remove_all(tmpl);
  return 0;
}
