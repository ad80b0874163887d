// Memory exhaustion with an outer bound: touch at most 1 GiB in 16 MiB chunks (run with
// --memory 64M). The memory quota must kill us (OOM in the cgroup) before the host notices.
#include <sys/mman.h>

#include "attack.h"
int main(void) {
  size_t chunk = 16u << 20, total = 0;
  for (int i = 0; i < 64; i++) {
    char* p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      note("mmap failed after %zu MiB: %s", total >> 20, strerrorname_np(errno));
      break;
    }
    for (size_t off = 0; off < chunk; off += 4096) p[off] = 1;
    total += chunk;
  }
  note("touched %zu MiB", total >> 20);
  if (total >= (1u << 30)) escaped_because("allocated and touched 1 GiB under a 64 MiB quota");
  return finish("memory capped");
}
