"""The adversarial harness's own safety net around one attack run.

cordon's quotas are what the suite tests, so they cannot also be what protects the machine from
a fork, memory, disk or CPU bomb when a quota is broken. Every attack therefore runs inside a
cgroup of the harness's own, below the harness's cgroup, with limits above the quota the attack
is run with (cordon creates the plugin's cgroup below its own, i.e. inside this one, so the
outer limits still hold when an inner one fails):

  - cgroup v2 where the harness's cgroup already delegates memory and pids (or is the root of
    the hierarchy); else the cgroup v1 memory, pids and cpu hierarchies;
  - memory (and memory+swap) capped, pids.max, a CPU rate of at most 1.5 cores;
  - RLIMIT_FSIZE and RLIMIT_CPU in the child before exec, also the fallback where no cgroup can
    be had (then the process-group kill of the per-attack timeout is the only other net).

After the run, processes still inside are reported (a leak is a finding, not something the net
hides), then killed, and the cgroup is removed.
"""

import os
import resource
import select
import signal
import time

V1_CONTROLLERS = ("memory", "pids", "cpu")
FSIZE_BYTES = 1 << 30  # cordon's audit log and anything the attack writes
CPU_SECONDS = 600      # per process; every attack ends long before


def _mounts():
  """{controller: mount point} for v1 hierarchies, plus "" for the cgroup2 mount."""
  found = {}
  with open("/proc/self/mountinfo") as f:
    for line in f:
      fields = line.split()
      sep = fields.index("-")
      fstype, options = fields[sep + 1], fields[sep + 3].split(",")
      if fstype == "cgroup2":
        found.setdefault("", fields[4])
      elif fstype == "cgroup":
        for c in V1_CONTROLLERS:
          if c in options:
            found.setdefault(c, fields[4])
  return found


def _own_cgroups():
  """{controller: our cgroup path}, "" for the v2 line."""
  own = {}
  with open("/proc/self/cgroup") as f:
    for line in f:
      _, controllers, path = line.rstrip("\n").split(":", 2)
      for c in controllers.split(",") if controllers else [""]:
        own[c] = path
  return own


def _wait_gone(pids, seconds):
  """Waits (on pidfds, no polling loop) until every pid has exited or `seconds` passed."""
  poller, fds = select.poll(), []
  for p in pids:
    try:
      fd = os.pidfd_open(p)
    except OSError:
      continue  # already gone
    fds.append(fd)
    poller.register(fd, select.POLLIN)
  deadline = time.monotonic() + seconds
  pending = len(fds)
  while pending and time.monotonic() < deadline:
    for fd, _ in poller.poll(max(1, int((deadline - time.monotonic()) * 1000))):
      poller.unregister(fd)
      pending -= 1
  for fd in fds:
    os.close(fd)


def _write(path, value):
  with open(path, "w") as f:
    f.write(value)


class OuterNet:
  _seq = 0

  def __init__(self, memory_bytes=1 << 30, pids=256, cpu_percent=150):
    OuterNet._seq += 1
    self.name = "cordon-adv-outer-%d-%d" % (os.getpid(), OuterNet._seq)
    self.dirs = []
    self.note = ""
    try:
      if not self._create_v2(memory_bytes, pids, cpu_percent):
        self._create_v1(memory_bytes, pids, cpu_percent)
      self.note = "outer cgroup %s" % self.dirs[0]
    except OSError as e:
      self._remove()
      self.dirs = []
      self.note = "rlimits only (no outer cgroup: %s)" % e

  def _create_v2(self, memory_bytes, pids, cpu_percent):
    mount, own = _mounts().get(""), _own_cgroups().get("")
    if mount is None or own is None:
      return False
    parent = os.path.join(mount, own.lstrip("/"))
    with open(os.path.join(parent, "cgroup.controllers")) as f:
      offered = f.read().split()
    with open(os.path.join(parent, "cgroup.subtree_control")) as f:
      enabled = f.read().split()
    if not {"memory", "pids"} <= set(offered):
      return False
    if not {"memory", "pids"} <= set(enabled):
      if own != "/":
        return False  # enabling would break the no-internal-processes rule for our cgroup
      _write(os.path.join(parent, "cgroup.subtree_control"), "+memory +pids")
    d = os.path.join(parent, self.name)
    os.mkdir(d)
    self.dirs.append(d)
    _write(os.path.join(d, "memory.max"), str(memory_bytes))
    if os.path.exists(os.path.join(d, "memory.swap.max")):
      _write(os.path.join(d, "memory.swap.max"), "0")
    _write(os.path.join(d, "pids.max"), str(pids))
    if os.path.exists(os.path.join(d, "cpu.max")):
      _write(os.path.join(d, "cpu.max"), "%d 100000" % (cpu_percent * 1000))
    return True

  def _create_v1(self, memory_bytes, pids, cpu_percent):
    mounts, own = _mounts(), _own_cgroups()
    if "memory" not in mounts or "pids" not in mounts:
      raise OSError("no cgroup v1 memory and pids hierarchies")
    done = set()
    for c in V1_CONTROLLERS:
      if c not in mounts or mounts[c] in done:
        continue
      done.add(mounts[c])
      d = os.path.join(mounts[c], own.get(c, "/").lstrip("/"), self.name)
      os.mkdir(d)
      self.dirs.append(d)
      if c == "memory":
        _write(os.path.join(d, "memory.limit_in_bytes"), str(memory_bytes))
        if os.path.exists(os.path.join(d, "memory.memsw.limit_in_bytes")):
          _write(os.path.join(d, "memory.memsw.limit_in_bytes"), str(memory_bytes))
      elif c == "pids":
        _write(os.path.join(d, "pids.max"), str(pids))
      elif c == "cpu":
        _write(os.path.join(d, "cpu.cfs_period_us"), "100000")
        _write(os.path.join(d, "cpu.cfs_quota_us"), str(cpu_percent * 1000))

  def preexec(self):
    """Runs in the forked child before exec: joins the cgroup, sets the rlimits."""
    for d in self.dirs:
      _write(os.path.join(d, "cgroup.procs"), "0")
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_BYTES, FSIZE_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))

  def _pids(self):
    pids = set()
    for d in self.dirs:
      for root, _, _ in os.walk(d):
        try:
          with open(os.path.join(root, "cgroup.procs")) as f:
            pids.update(int(p) for p in f.read().split())
        except OSError:
          pass
    return pids

  def finish(self):
    """After the run: problems (processes still inside after 5 s), then kill and remove."""
    problems = []
    pids = self._pids()
    if pids:
      # Exiting processes get a moment to leave on their own.
      _wait_gone(pids, 5)
      pids = self._pids()
    if pids:
      problems.append("%d process(es) left in the harness's outer cgroup: %s" %
                      (len(pids), sorted(pids)[:5]))
    self._remove()
    return problems

  def _remove(self):
    # Killed round by round: a process can fork while we list, but pids.max bounds that.
    for _ in range(100):
      pids = self._pids()
      if not pids:
        break
      for p in pids:
        try:
          os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
          pass
      _wait_gone(pids, 1)
    for d in self.dirs:
      for root, subdirs, _ in os.walk(d, topdown=False):
        for s in subdirs:
          try:
            os.rmdir(os.path.join(root, s))
          except OSError:
            pass
      try:
        os.rmdir(d)
      except OSError:
        pass
