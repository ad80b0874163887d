#!/usr/bin/env python3
"""cordon's adversarial suite (issue 7).

Runs every attack program in tests/adversarial/attacks under `cordon run` (or, with
--runner bwrap, under bubblewrap with comparable flags), with host-side bait the attacks go
for: a canary process, a TCP listener on loopback, an abstract and a pathname unix listener, a
SysV shared-memory segment, a secret file, a canary file, a setuid-root probe, a leaked fd and
a secret environment variable. For each attack it asserts three things:

  1. the attack failed: the program reports "RESULT blocked" (or was killed the expected way),
  2. the host shows no effect: canary alive, listeners got no connection, files and the
     hostname unchanged, shm segment unchanged, no sandbox process or cgroup left, disk and
     memory where they were,
  3. the audit log (verified with `cordon audit verify`) holds the record that explains it.

Verdicts: BLOCKED (all three hold), ESCAPED (2 failed: the host shows an effect), ALLOWED (1
failed without a visible host effect: an operation the policy forbids worked inside the sandbox,
e.g. a new user namespace, which widens kernel attack surface), UNAUDITED (1 and 2 hold, 3 does
not), UNEXPECTED (blocked, but not the way the suite expects: e.g. EPERM where a kill was
expected), ERROR (the attack or harness could not run), PENDING (attack on a component that
does not exist yet; not run). Exit status: 1 if anything ESCAPED or ALLOWED, 2 if anything is UNAUDITED,
UNEXPECTED or ERROR, else 0.

Only the standard library is used (python3 is the only dependency).
"""

import argparse
import ctypes
import ctypes.util
import hashlib
import json
import os
import pty
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tty

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------------------------
# The attacks. Fields:
#   name, binary (in the attacks dir), what (one line), args (list; "{port}" etc. are
#   formatted from the fixtures), flags (extra `cordon run` flags), exit (accepted cordon exit
#   statuses), audit (matchers, see audit_matches), stdin ("null" or "tty"), fds (pass the
#   harness's leaked fds), bwrap_limits (prlimit/timeout args standing in for the quota flags).
# Audit matchers:
#   ("seccomp", NAME)          a seccomp.violation for syscall NAME with action eperm
#   ("seccomp_kill", None)     a seccomp.violation with action kill (and plugin.exit by signal)
#   ("quota", NAME)            a quota.violation for quota NAME
#   ("isolation", None)        plugin.start with a non-root uid_map and not rootless: the
#                              namespaces/mount tree it describes are the explanation
#   ("count", (NAME, N))       seccomp.violation records for NAME account for at least N calls
#                              (each record counts 1 + its "suppressed" field, if any)
#   ("no_forged", None)        no record of a type the launcher never writes
# --------------------------------------------------------------------------------------------

ISO = [("isolation", None)]


def A(name, what, audit, binary=None, args=(), flags=(), exit=(0,), stdin="null", fds=False,
      bwrap_limits=(), category="", log_budget=None, stdout="pipe"):
  return dict(name=name, binary=binary or name, what=what, audit=list(audit), args=list(args),
              flags=list(flags), exit=set(exit), stdin=stdin, fds=fds,
              bwrap_limits=list(bwrap_limits), category=category, log_budget=log_budget,
              stdout=stdout)


ATTACKS = [
    # Host files
    A("host_file_read", "read a host secret, /etc/shadow, /proc/1/root, /proc/kcore", ISO,
      args=["{secret}"], category="files"),
    A("host_file_write", "write a host canary, /usr, /bin, /etc/passwd", ISO,
      args=["{canary_file}"], category="files"),
    A("proc_self_exe", "overwrite the host binary via /proc/self/exe (runc CVE-2019-5736)", ISO,
      category="files"),
    A("proc_sys_write", "core_pattern, sysrq, uevent_helper, release_agent, uid_map", ISO,
      category="proc"),
    A("device_nodes", "open /dev/mem, disks, kmsg; mknod a char/block device", ISO,
      category="devices"),
    # Network
    A("loopback_tcp", "TCP to a host listener on 127.0.0.1/::1; UDP, raw, netlink, packet",
      [("seccomp", "socket")], args=["{port}"], category="network"),
    A("abstract_socket", "connect to a host abstract unix socket", ISO, args=["{abstract}"],
      category="network"),
    A("unix_path_socket", "connect to a host pathname socket, docker/dbus sockets", ISO,
      args=["{unix_path}"], category="network"),
    # Processes
    A("signal_host", "kill/pidfd_send_signal/tgkill the host canary", ISO,
      args=["{canary_pid}"], category="processes"),
    A("ptrace_host", "ptrace/process_vm_readv the host canary and the sandbox init",
      [("seccomp", "ptrace"), ("seccomp", "process_vm_readv")], args=["{canary_pid}"],
      category="processes"),
    A("init_hijack", "write the sandbox init's memory through /proc/1/mem", ISO,
      category="processes"),
    A("pid_ns_view", "find host pids, hostname, mounts, interfaces", ISO,
      args=["{canary_pid}", "{hostname}"], category="processes"),
    # IPC
    A("sysv_ipc", "shmget/shmat a host SysV segment; msgget, semget",
      [("seccomp", "shmget"), ("seccomp", "shmat")], args=["{shm_key}", "{shm_id}"],
      category="sysv"),
    # Namespaces and mounts
    A("unshare_ns", "unshare user/mount/net/uts/ipc/time namespaces", [("seccomp", "unshare")],
      category="namespaces"),
    A("clone_newuser", "clone with CLONE_NEW* (also hidden in high bits), clone3",
      [("seccomp", "clone")], category="namespaces"),
    A("setns_join", "setns into /proc/1/ns/* and a pidfd", [("seccomp", "setns")],
      category="namespaces"),
    A("mount_tmpfs", "mount tmpfs, bind /, remount /usr rw, umount /proc",
      [("seccomp", "mount"), ("seccomp", "umount2")], category="mounts"),
    A("chroot_escape", "chroot + chdir(..) walk out of the root", [("seccomp", "chroot")],
      category="mounts"),
    A("pivot_root", "pivot_root, open_tree, fsopen, move_mount, mount_setattr",
      [("seccomp", "pivot_root"), ("seccomp", "open_tree"), ("seccomp", "fsopen")],
      category="mounts"),
    # Kernel attack surface
    A("keyring", "add_key, keyctl, request_key", [("seccomp", "add_key"), ("seccomp", "keyctl")],
      category="kernel"),
    A("bpf_load", "bpf map create, program load", [("seccomp", "bpf")], category="kernel"),
    A("perf_event", "perf_event_open on self and system-wide", [("seccomp", "perf_event_open")],
      category="kernel"),
    A("userfaultfd", "userfaultfd syscall and /dev/userfaultfd", [("seccomp", "userfaultfd")],
      category="kernel"),
    A("io_uring", "io_uring_setup/enter/register", [("seccomp", "io_uring_setup")],
      category="kernel"),
    A("open_by_handle", "shocker: open_by_handle_at with a forged handle",
      [("seccomp", "open_by_handle_at"), ("seccomp", "name_to_handle_at")], category="kernel"),
    A("kernel_modules", "init_module, finit_module, delete_module, kexec",
      [("seccomp", "init_module"), ("seccomp", "finit_module"), ("seccomp", "kexec_load")],
      category="kernel"),
    A("reboot", "reboot(POWER_OFF)", [("seccomp", "reboot")], category="kernel"),
    A("clock_set", "clock_settime, settimeofday, adjtimex, clock_adjtime",
      [("seccomp", "clock_settime"), ("seccomp", "settimeofday"), ("seccomp", "adjtimex")],
      category="kernel"),
    A("hostname_set", "sethostname, setdomainname, /proc/sys/kernel/hostname",
      [("seccomp", "sethostname")], args=["pwned-by-plugin"], category="kernel"),
    A("privileged_misc", "syslog, swapon, acct, quotactl, iopl, ioperm, vhangup",
      [("seccomp", "syslog"), ("seccomp", "iopl"), ("seccomp", "swapon")], category="kernel"),
    A("personality_prctl", "READ_IMPLIES_EXEC, PR_SET_MM, PR_SET_PTRACER",
      [("seccomp", "personality"), ("seccomp", "prctl")], category="kernel"),
    # Foreign ABIs
    A("i386_syscall", "i386 syscall via int 0x80", [("seccomp_kill", None)], exit=(159,),
      category="abi"),
    A("i386_binary", "exec a 32-bit i386 program (every syscall i386)", [("seccomp_kill", None)],
      exit=(159,), category="abi"),
    A("x32_syscall", "x32 syscall (nr | 0x40000000)", [("seccomp_kill", None)], exit=(159,),
      category="abi"),
    # Terminal, privileges, fds, environment
    A("tty_inject", "setsid+TIOCSCTTY, TIOCSTI (also with high bits), TIOCLINUX on a pty",
      [("seccomp", "ioctl")], stdin="tty", category="terminal"),
    A("caps_nnp", "capabilities in any set, clearing no_new_privs, capset, chown",
      [("seccomp", "capset")], category="privileges"),
    A("setuid_exec", "setuid(0), setresuid, exec a setuid-root binary and su",
      [("seccomp", "setuid"), ("seccomp", "setresuid")], args=["/suid/suid_probe"],
      flags=["--ro-bind", "{suid_dir}:/suid"], category="privileges"),
    A("stdio_reopen", "stdout is a host file: read it back, truncate, chmod it", ISO,
      stdout="file", category="fds"),
    A("inherited_fds", "use fds leaked into cordon (a host file and a host socket)", ISO, fds=True,
      category="fds"),
    A("env_leak", "read the harness's secret environment variable", ISO, category="fds"),
    A("fileless_exec", "memfd_create + execveat: allowed, but must stay confined",
      [("seccomp", "mount")], category="exec"),
    # Exhaustion (each with an outer bound in the program and tight quotas here)
    A("fork_bomb", "fork up to 2000 processes under --pids 16", ISO + [("quota?", "pids")],
      flags=["--pids", "16", "--wall-time", "15s"], exit=(0, 124, 137),
      bwrap_limits=["--nproc=16"], category="exhaustion"),
    A("thread_bomb", "2000 threads under --pids 16", ISO + [("quota?", "pids")],
      flags=["--pids", "16", "--wall-time", "15s"], exit=(0, 124),
      bwrap_limits=["--nproc=16"], category="exhaustion"),
    A("memory_bomb", "touch 1 GiB under --memory 64M", [("quota", "memory")],
      flags=["--memory", "64M"], exit=(124,), bwrap_limits=["--as=67108864"],
      category="exhaustion"),
    A("cpu_burn", "spin 30 s under --cpu-time 1 (ignoring SIGXCPU)", [("quota", "cpu_time")],
      flags=["--cpu-time", "1", "--wall-time", "60s"], exit=(124,), bwrap_limits=["--cpu=1"], category="exhaustion"),
    A("wall_sleep", "sleep 30 s under --wall-time 1s", [("quota", "wall_time")],
      flags=["--wall-time", "1s"], exit=(124,), category="exhaustion"),
    A("disk_fill", "fill /tmp with 256 MiB under --tmp-size 1M", ISO,
      flags=["--tmp-size", "1M"], category="exhaustion"),
    A("fd_exhaust", "open 100000 fds under --open-files 64", ISO, flags=["--open-files", "64"],
      bwrap_limits=["--nofile=64"], category="exhaustion"),
    A("tmpfs_memory", "60 MiB into tmpfs /tmp under --memory 32M", [("quota", "memory")],
      flags=["--memory", "32M"], exit=(124,), category="exhaustion"),
    A("rlimit_raise", "raise hard rlimits (NOFILE, CPU, FSIZE, CORE, AS, NPROC)", ISO,
      flags=["--open-files", "64", "--cpu-time", "10", "--file-size", "1M"],
      bwrap_limits=["--nofile=64", "--cpu=10", "--fsize=1048576"], category="exhaustion"),
    A("orphan_survivor", "double-fork a setsid daemon that outlives the main program", ISO,
      category="processes"),
    A("stop_self", "SIGSTOP itself under --wall-time 1s", [("quota", "wall_time")],
      flags=["--wall-time", "1s"], exit=(124,), category="exhaustion"),
    # Attacks on the launcher itself
    A("audit_injection", "forge audit records through argv and syscall arguments",
      [("seccomp", "chroot"), ("no_forged", None)],
      args=["\n{\"seq\":1,\"type\":\"forged\"}\n", "\"}\u2028\x1b[2J"], category="launcher"),
    A("violation_flood", "20000 forbidden syscalls from 4 threads", [("count", ("sethostname", 20000))],
      flags=["--wall-time", "60s"], category="launcher"),
    A("audit_amplify", "10000 refused syscalls: host audit log growth (budget 2 MiB)",
      [("seccomp", "sethostname")], log_budget=2 << 20, category="launcher"),
    A("notify_abandon", "100 rounds of refused syscalls abandoned by exit_group",
      [("seccomp", "sethostname"), ("seccomp", "mount")], category="launcher"),
    A("notify_toctou", "race pointer arguments of refused syscalls from other threads",
      [("seccomp", "mount"), ("seccomp", "chroot")], category="launcher"),
]

PENDING = [
    ("broker_dotdot", "broker open '../../etc/shadow' under a granted dir", "broker"),
    ("broker_symlink_escape", "broker open through a symlink planted to point outside", "broker"),
    ("broker_magic_link", "broker open /proc/self/fd/N and /proc/1/root magic links", "broker"),
    ("broker_rename_race", "swap a granted path for a symlink between check and open", "broker"),
    ("broker_flag_smuggling", "O_PATH/O_CREAT/O_TMPFILE flags the grant does not allow", "broker"),
    ("broker_endpoint_dns_rebind", "connect grant for a name, then re-resolved elsewhere", "broker"),
    ("broker_request_flood", "broker requests above the rate quota", "broker"),
    ("ipc_channel_under_cordon_run", "the same IPC attacks from inside a real sandbox", "ipc"),
]

# --------------------------------------------------------------------------------------------
# Host fixtures
# --------------------------------------------------------------------------------------------

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
IPC_CREAT, IPC_RMID = 0o1000, 0


def sha256(path):
  try:
    with open(path, "rb") as f:
      return hashlib.sha256(f.read()).hexdigest()
  except OSError as e:
    return "unreadable: %s" % e


def mem_available_kib():
  with open("/proc/meminfo") as f:
    for line in f:
      if line.startswith("MemAvailable:"):
        return int(line.split()[1])
  return 0


class Fixtures:
  def __init__(self, attacks_dir, suid_probe):
    self.dir = tempfile.mkdtemp(prefix="cordon-adv-")
    os.chmod(self.dir, 0o755)
    self.secret = os.path.join(self.dir, "secret")
    with open(self.secret, "w") as f:
      f.write("TOP-SECRET-%d\n" % os.getpid())
    os.chmod(self.secret, 0o644)  # world-readable on the host: only isolation protects it
    self.canary_file = os.path.join(self.dir, "canary")
    with open(self.canary_file, "w") as f:
      f.write("unchanged\n")
    os.chmod(self.canary_file, 0o666)  # world-writable on the host: only isolation protects it
    self.hostname = socket.gethostname()
    # Canary process: a host process the attacks try to signal and trace.
    self.canary = subprocess.Popen(["sleep", "100000"], stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    # Listeners. Each is non-blocking; a pending connection is an escape.
    self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    self.tcp.bind(("127.0.0.1", 0))
    self.tcp.listen(16)
    self.port = self.tcp.getsockname()[1]
    self.tcp6 = None
    try:
      self.tcp6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
      self.tcp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
      self.tcp6.bind(("::1", self.port))
      self.tcp6.listen(16)
    except OSError:
      self.tcp6 = None
    self.abstract = "cordon-adv-%d" % os.getpid()
    self.abs_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    self.abs_sock.bind("\0" + self.abstract)
    self.abs_sock.listen(16)
    self.abs_seq = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    self.abs_seq.bind("\0" + self.abstract + "-seq")  # the attack tries the same name; no-op
    self.abs_seq.listen(16)
    self.unix_path = os.path.join(self.dir, "sock")
    self.unix_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    self.unix_sock.bind(self.unix_path)
    os.chmod(self.unix_path, 0o777)
    self.unix_sock.listen(16)
    self.listeners = [("tcp 127.0.0.1:%d" % self.port, self.tcp),
                      ("abstract @%s" % self.abstract, self.abs_sock),
                      ("unix %s" % self.unix_path, self.unix_sock)]
    if self.tcp6:
      self.listeners.append(("tcp [::1]:%d" % self.port, self.tcp6))
    for _, s in self.listeners:
      s.setblocking(False)
    self.connections = []
    # SysV shared memory, world-accessible (0666): only IPC-namespace isolation protects it.
    self.shm_key = 0x0C0D0000 + (os.getpid() & 0xFFFF)
    self.shm_id = libc.shmget(self.shm_key, 4096, IPC_CREAT | 0o666)
    if self.shm_id < 0:
      raise OSError(ctypes.get_errno(), "shmget")
    self.shm_addr = libc.shmat(self.shm_id, None, 0)
    ctypes.memmove(self.shm_addr, b"CANARY-SHM", 10)
    # Setuid-root probe for setuid_exec, in a directory bound read-only into the sandbox.
    self.suid_dir = os.path.join(self.dir, "suid")
    os.mkdir(self.suid_dir)
    os.chmod(self.suid_dir, 0o755)
    self.suid_probe = os.path.join(self.suid_dir, "suid_probe")
    if suid_probe and os.path.exists(suid_probe):
      shutil.copy(suid_probe, self.suid_probe)
      if os.geteuid() == 0:
        os.chown(self.suid_probe, 0, 0)
      os.chmod(self.suid_probe, 0o4755)
    # Fds the harness deliberately leaks to cordon (inheritable) for inherited_fds.
    self.leak_file = os.open(self.secret, os.O_RDONLY)
    self.leak_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    self.leak_sock.connect(self.unix_path)
    self.leak_peer, _ = self.unix_sock.accept()  # our own connection, not an attack's
    self.leaked = [self.leak_file, self.leak_sock.fileno()]
    self.dropped = ["/usr/bin/cordon-adv-dropped", "/lib/cordon-adv-dropped", "/usr/cordon-adv",
                    "/tmp/pwn", "/tmp/su-ran"]
    self.attacks_dir = attacks_dir
    self.token = "cordon-adv-run-%d" % os.getpid()
    self.baseline = self.snapshot()
    self.before_attack = None
    self.resource_note = ""
    # The biggest write any attack attempts is 256 MiB (disk_fill); more than that lost while
    # one attack ran is not noise from the attack's own bound.
    self.disk_slack_mib = 384
    self.t0, self.m0 = time.time(), time.monotonic()

  def fmt(self, s):
    return s.format(secret=self.secret, canary_file=self.canary_file, port=self.port,
                    abstract=self.abstract, unix_path=self.unix_path,
                    canary_pid=self.canary.pid, shm_key=self.shm_key, shm_id=self.shm_id,
                    hostname=self.hostname, suid_dir=self.suid_dir)

  def shm_state(self):
    nattch = None
    with open("/proc/sysvipc/shm") as f:
      for line in f:
        cols = line.split()
        if len(cols) > 6 and cols[1] == str(self.shm_id):
          nattch = int(cols[6])
    return nattch, ctypes.string_at(self.shm_addr, 10)

  def snapshot(self):
    st = os.statvfs("/")
    return dict(secret=sha256(self.secret), canary_file=sha256(self.canary_file),
                shm=self.shm_state(), disk_free=st.f_bavail * st.f_frsize,
                mem=mem_available_kib())

  def accept_all(self):
    got = []
    for name, s in self.listeners:
      while True:
        try:
          c, _ = s.accept()
        except (BlockingIOError, OSError):
          break
        got.append(name)
        c.close()
    return got

  def host_checks(self, binary, start_record):
    """Returns a list of problems (empty: the host shows no effect)."""
    problems = []
    if self.canary.poll() is not None:
      problems.append("canary pid %d died (%s)" % (self.canary.pid, self.canary.returncode))
    if socket.gethostname() != self.hostname:
      problems.append("host hostname changed to %r" % socket.gethostname())
    got = self.accept_all()
    if got:
      problems.append("listener got a connection: %s" % ", ".join(got))
    now = self.snapshot()
    for key in ("secret", "canary_file"):
      if now[key] != self.baseline[key]:
        problems.append("%s changed" % key)
    if now["shm"] != self.baseline["shm"]:
      problems.append("shm segment changed: %r -> %r" % (self.baseline["shm"], now["shm"]))
    for p in self.dropped:
      if os.path.lexists(p):
        problems.append("%s exists on the host" % p)
    if abs((time.time() - self.t0) - (time.monotonic() - self.m0)) > 5:
      problems.append("host clock jumped")
    # Disk and memory are shared with other work on the host, so a global delta is only
    # evidence. The attributable checks are above and below: the sandbox's cgroup (which is
    # charged for its memory and its tmpfs pages) is gone and none of its processes is left.
    before = self.before_attack or self.baseline
    disk_mib = (now["disk_free"] - before["disk_free"]) >> 20
    mem_mib = (now["mem"] - before["mem"]) >> 10
    self.resource_note = "host disk free %+d MiB, MemAvailable %+d MiB" % (disk_mib, mem_mib)
    if disk_mib < -(self.disk_slack_mib):
      problems.append("host disk free dropped by %d MiB during the attack" % -disk_mib)
    if binary and sha256(binary) != self.binary_hashes.get(binary, sha256(binary)):
      problems.append("attack binary on the host was modified")
    # Leftover processes: the sandbox's init, and anything running the attack image.
    if start_record:
      hp = start_record.get("host_pid")
      if hp and pid_alive(hp):
        problems.append("sandbox init (host pid %d) still running" % hp)
      cg = cgroup_dirs(start_record.get("quota_backend", ""))
      left = [d for d in cg if os.path.exists(d)]
      if left:
        problems.append("cgroup left: %s" % left[0])
    leftovers = processes_running(self.token)
    if leftovers:
      problems.append("processes left running the attack: %s" % leftovers[:5])
    return problems

  def close(self):
    self.canary.kill()
    self.canary.wait()
    libc.shmdt(ctypes.c_void_p(self.shm_addr))
    libc.shmctl(self.shm_id, IPC_RMID, None)
    for _, s in self.listeners:
      s.close()
    os.close(self.leak_file)
    self.leak_sock.close()
    self.leak_peer.close()
    shutil.rmtree(self.dir, ignore_errors=True)


def pid_alive(pid):
  try:
    with open("/proc/%d/stat" % pid) as f:
      state = f.read().rsplit(")", 1)[1].split()[0]
    return state != "Z"
  except OSError:
    return False


def cgroup_dirs(quota_backend):
  m = re.search(r"(/sys/fs/cgroup/\S+)", quota_backend)
  if not m:
    return []
  path = m.group(1)
  m2 = re.match(r"/sys/fs/cgroup/([^/]+)/(.*)", path)
  if not m2 or m2.group(1) == "unified":
    return [path]
  rel = m2.group(2)
  return [os.path.join("/sys/fs/cgroup", c, rel)
          for c in ("memory", "pids", "cpu", "cpuacct", "freezer")
          if os.path.isdir(os.path.join("/sys/fs/cgroup", c))] or [path]


def processes_of_uid(uid):
  n = 0
  for d in os.listdir("/proc"):
    if d.isdigit():
      try:
        if os.stat("/proc/" + d).st_uid == uid:
          n += 1
      except OSError:
        pass
  return n


def processes_running(token):
  """Live processes whose command line carries this run's token, or a memfd image."""
  found = []
  for d in os.listdir("/proc"):
    if not d.isdigit() or int(d) == os.getpid():
      continue
    try:
      with open("/proc/%s/cmdline" % d, "rb") as f:
        cmdline = f.read()
      exe = os.readlink("/proc/%s/exe" % d)
    except OSError:
      continue
    if token.encode() in cmdline.split(b"\0")[1:] or "cordon-adv-payload" in exe:
      if pid_alive(int(d)):
        found.append(int(d))
  return found


# --------------------------------------------------------------------------------------------
# Audit checks
# --------------------------------------------------------------------------------------------

KNOWN_TYPES = {"plugin.start", "plugin.exit", "seccomp.violation", "quota.violation",
               "protocol.violation", "capability.use", "launcher.start", "launcher.stop",
               "audit.recovered", "audit.rotated"}


def read_audit(path):
  records, bad = [], 0
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      for line in f:
        try:
          records.append(json.loads(line))
        except ValueError:
          bad += 1
  except OSError:
    pass
  return records, bad


def render(rec):
  t = rec.get("type")
  if t == "seccomp.violation":
    return "seccomp.violation{%s,%s,%s}#%s" % (rec.get("syscall"), rec.get("arch", "?"),
                                               rec.get("action", "?"), rec.get("seq"))
  if t == "quota.violation":
    return "quota.violation{%s,limit=%s,%s}#%s" % (rec.get("quota"), rec.get("limit"),
                                                   rec.get("action"), rec.get("seq"))
  if t == "plugin.start":
    um = rec.get("uid_map", {})
    return "plugin.start{profile=%s,uid %s->%s}#%s" % (rec.get("profile"), um.get("sandbox_uid"),
                                                       um.get("host_uid"), rec.get("seq"))
  if t == "plugin.exit":
    how = "exit=%s" % rec["exit_code"] if "exit_code" in rec else "signal=%s" % rec.get("signal")
    return "plugin.exit{%s%s}#%s" % (how, "," + rec["reason"] if rec.get("reason") else "",
                                     rec.get("seq"))
  return "%s#%s" % (t, rec.get("seq"))


def audit_matches(matchers, records, bad_lines):
  """Returns (ok, explanation, problems)."""
  problems, shown = [], []
  start = next((r for r in records if r.get("type") == "plugin.start"), None)
  exit_rec = next((r for r in records if r.get("type") == "plugin.exit"), None)
  if not start:
    problems.append("no plugin.start")
  if not exit_rec:
    problems.append("no plugin.exit")
  for kind, arg in matchers:
    if kind == "isolation":
      um = (start or {}).get("uid_map", {})
      if start and um.get("host_uid") not in (None, 0) and not start.get("rootless"):
        shown.append(render(start))
      else:
        problems.append("plugin.start does not show an unprivileged uid map")
    elif kind == "seccomp":
      hit = next((r for r in records if r.get("type") == "seccomp.violation"
                  and r.get("syscall") == arg), None)
      if hit:
        shown.append(render(hit))
      else:
        problems.append("no seccomp.violation for %s" % arg)
    elif kind == "seccomp_kill":
      hit = next((r for r in records if r.get("type") == "seccomp.violation"
                  and r.get("action") == "kill"), None)
      if hit:
        shown.append(render(hit))
      else:
        problems.append("no seccomp.violation with action kill")
      if exit_rec and "signal" not in exit_rec:
        problems.append("plugin.exit not by signal")
    elif kind in ("quota", "quota?"):
      hit = next((r for r in records if r.get("type") == "quota.violation"
                  and r.get("quota") == arg), None)
      if hit:
        shown.append(render(hit))
      elif kind == "quota":
        problems.append("no quota.violation for %s" % arg)
    elif kind == "count":
      name, n = arg
      # A launcher that rate-limits violation records may fold repeats into one record with
      # a "suppressed" count; every refused call must still be accounted for.
      c = sum(1 + int(r.get("suppressed", 0) or 0) for r in records
              if r.get("type") == "seccomp.violation" and r.get("syscall") == name)
      shown.append("%d x seccomp.violation{%s}" % (c, name))
      if c < n:
        problems.append("only %d of %d %s violations recorded" % (c, n, name))
    elif kind == "no_forged":
      forged = [r for r in records if r.get("type") not in KNOWN_TYPES]
      if forged or bad_lines:
        problems.append("forged/unparseable records: %d types %s, %d bad lines" %
                        (len(forged), sorted({str(r.get("type")) for r in forged}), bad_lines))
      else:
        shown.append("%d records, all known types" % len(records))
  if exit_rec:
    shown.append(render(exit_rec))
  return not problems, "; ".join(shown), problems


# --------------------------------------------------------------------------------------------
# Running one attack
# --------------------------------------------------------------------------------------------


def parse_size(text):
  units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
  return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


PLACEHOLDER = re.compile(
    r"\{(secret|canary_file|port|abstract|unix_path|canary_pid|shm_key|shm_id|hostname|suid_dir)\}")


def build_command(args, fx, attack, log):
  binary = os.path.join(args.attacks, attack["binary"])
  argv = [fx.fmt(a) if PLACEHOLDER.search(a) else a for a in attack["args"]]
  # A trailing token that attacks ignore: it tells this run's leftovers from those of another
  # suite running at the same time.
  argv.append(fx.token)
  if args.runner == "cordon":
    flags = [fx.fmt(f) for f in attack["flags"]]
    if "--wall-time" not in flags:
      flags += ["--wall-time", "20s"]  # outer safety net for every attack
    return [args.cordon, "run", "--audit-log", log] + flags + ["--", binary] + argv, binary
  # bubblewrap with flags comparable to cordon's default profile; rlimits stand in for quotas.
  cmd = []
  if os.geteuid() == 0:
    cmd += ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
  limits = list(attack["bwrap_limits"])
  if any(l.startswith("--nproc=") for l in limits):
    # RLIMIT_NPROC counts every process of the uid on the host (other sandboxes run as nobody
    # too), so the cap is relative to what already runs.
    n = int(next(l for l in limits if l.startswith("--nproc=")).split("=")[1])
    limits = [l for l in limits if not l.startswith("--nproc=")] + [
        "--nproc=%d" % (n + processes_of_uid(65534) + 2)]
  if limits:
    cmd += ["prlimit"] + limits + ["--"]
  wall = "20"
  if "--wall-time" in attack["flags"]:
    wall = attack["flags"][attack["flags"].index("--wall-time") + 1].rstrip("s")
  cmd += ["timeout", "-s", "KILL", wall, "bwrap", "--unshare-all", "--die-with-parent",
          "--new-session", "--cap-drop", "ALL", "--hostname", "cordon"]
  for d in ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/passwd",
            "/etc/group"):
    if os.path.exists(d):
      cmd += ["--ro-bind", d, d]
  tmp_size = 64 << 20  # the default profile's /tmp
  if "--tmp-size" in attack["flags"]:
    tmp_size = parse_size(attack["flags"][attack["flags"].index("--tmp-size") + 1])
  cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(tmp_size), "--tmpfs", "/tmp", "--ro-bind", args.attacks, "/adv"]
  flags = attack["flags"]
  for i, f in enumerate(flags):
    if f == "--ro-bind":
      src, dst = fx.fmt(flags[i + 1]).split(":")
      cmd += ["--ro-bind", src, dst]
  cmd += ["--", "/adv/" + attack["binary"]] + argv
  return cmd, binary


def run_attack(args, fx, attack):
  log = os.path.join(fx.dir, "audit-%s.jsonl" % attack["name"])
  cmd, binary = build_command(args, fx, attack, log)
  fx.binary_hashes.setdefault(binary, sha256(binary))
  env = {"PATH": "/usr/bin:/bin", "CORDON_ADV_SECRET": "hunter2-%d" % os.getpid(),
         "LD_PRELOAD": ""}
  for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):  # a sanitized cordon
    if k in os.environ:
      env[k] = os.environ[k]
  master = slave = None
  stdin = subprocess.DEVNULL
  if attack["stdin"] == "tty":
    master, slave = pty.openpty()
    tty.setraw(slave)
    stdin = slave
  pass_fds = ()
  if attack["fds"]:
    pass_fds = tuple(fx.leaked)
  stdout = subprocess.PIPE
  out_file = None
  secret_line = b"HOST-LOG-SECRET %d\n" % os.getpid()
  if attack["stdout"] == "file":
    # A root-owned 0600 log that already holds a line: the plugin may append, nothing more.
    out_file = os.path.join(fx.dir, "stdout-%s.log" % attack["name"])
    with open(out_file, "wb") as f:
      f.write(secret_line)
    os.chmod(out_file, 0o600)
    stdout = os.open(out_file, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
  fx.before_attack = fx.snapshot()
  started = time.monotonic()
  try:
    p = subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                       env=env, pass_fds=pass_fds, timeout=args.timeout, start_new_session=True)
    rc, out, err = p.returncode, (p.stdout or b"").decode(errors="replace"), p.stderr.decode(errors="replace")
  except subprocess.TimeoutExpired as e:
    rc, out, err = None, (e.stdout or b"").decode(errors="replace"), "harness timeout"
  stdio_problem = None
  if out_file:
    os.close(stdout)
    with open(out_file, "rb") as f:
      content = f.read()
    out = content.decode(errors="replace")
    if not content.startswith(secret_line):
      stdio_problem = ("the host file behind stdout lost its earlier content (%d bytes left)" %
                       len(content))
    st = os.stat(out_file)
    if st.st_mode & 0o777 != 0o600 or st.st_uid != os.geteuid():
      stdio_problem = "the host file behind stdout changed mode/owner"
  elapsed = time.monotonic() - started
  injected = b""
  if slave is not None:
    os.set_blocking(slave, False)
    try:
      injected = os.read(slave, 4096)
    except (BlockingIOError, OSError):
      pass
    os.close(slave)
    os.close(master)

  # Attacks report on stdout; stdio_reopen reports on stderr (its stdout is the bait).
  result = re.findall(r"^RESULT (\w+) ?(.*)$", out + "\n" + err, re.M)
  notes = re.findall(r"^NOTE (.*)$", out + "\n" + err, re.M)
  escapes = [n[len("ESCAPE: "):] for n in notes if n.startswith("ESCAPE: ")]
  escapes += [n for n in notes if "SUCCEEDED" in n]
  records, bad = read_audit(log) if args.runner == "cordon" else ([], 0)
  start = next((r for r in records if r.get("type") == "plugin.start"), None)
  problems = fx.host_checks(binary, start)
  if stdio_problem:
    problems.append(stdio_problem)
  if args.runner == "cordon" and rc == 125 and start:
    # 125 is "the sandbox could not be set up"; after plugin.start it means the plugin made the
    # launcher give up on a running sandbox: a host-side failure the plugin caused.
    last = err.strip().splitlines()[-1] if err.strip() else "?"
    problems.append("launcher gave up on a running sandbox (exit 125: %s)" % last[:160])
  if attack["log_budget"] and args.runner == "cordon":
    size = os.path.getsize(log) if os.path.exists(log) else 0
    if size > attack["log_budget"]:
      problems.append("host audit log grew %.1f MiB (budget %.1f MiB; %d records): a plugin "
                      "can fill the log's disk at will" % (size / 1048576.0,
                                                           attack["log_budget"] / 1048576.0,
                                                           len(records)))
  if injected:
    problems.append("%d bytes injected into the terminal: %r" % (len(injected), injected[:20]))

  row = dict(name=attack["name"], category=attack["category"], what=attack["what"], rc=rc,
             seconds=round(elapsed, 2))
  failed_as_expected = rc in attack["exit"] and (not result or result[-1][0] == "blocked")
  if rc == 0 and not result:
    failed_as_expected = False
  evidence = []
  if result:
    evidence.append(result[-1][1])
  if escapes:
    evidence.append("succeeded: " + "; ".join(escapes[:3]))
  evidence.append("exit %s" % rc)
  if rc in (124, 125, 159) and err.strip():
    evidence.append(err.strip().splitlines()[-1][:120])
  if problems:
    evidence.append("HOST: " + "; ".join(problems))
  if attack["category"] == "exhaustion":
    evidence.append(fx.resource_note)

  if args.runner == "cordon":
    verified = subprocess.run([args.cordon, "audit", "verify", log], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    audit_ok, shown, audit_problems = audit_matches(attack["audit"], records, bad)
    if verified.returncode != 0:
      audit_ok = False
      audit_problems.append("audit verify failed: %s" %
                            verified.stdout.decode(errors="replace").strip().splitlines()[-1:])
    row["audit"] = shown if audit_ok else "MISSING: " + "; ".join(audit_problems) + (
        " (have: %s)" % shown if shown else "")
  else:
    audit_ok, row["audit"] = True, "n/a (bwrap has no audit log)"

  if args.runner == "bwrap" and rc is not None and rc not in attack["exit"]:
    # No quota exit status under bwrap: a kill by the rlimit or the timeout stands in for it.
    if rc in (137, -9, 152, -24, 128 + 25, -25) or (rc == 0 and result and result[-1][0] == "blocked"):
      failed_as_expected = True
  if problems:
    verdict = "ESCAPED"
  elif (result and result[-1][0] == "escaped") or rc == 1 or escapes:
    verdict = "ALLOWED"
  elif rc is None or (result and result[-1][0] == "error") or rc == 125:
    verdict = "ERROR"
  elif not failed_as_expected:
    verdict = "UNEXPECTED"
    evidence.append("expected exit %s" % sorted(attack["exit"]))
  elif not audit_ok:
    verdict = "UNAUDITED"
  else:
    verdict = "BLOCKED"
  row["verdict"] = verdict
  row["evidence"] = " | ".join(evidence)
  if args.verbose or verdict not in ("BLOCKED", "PENDING"):
    row["notes"] = notes
    row["stderr"] = err[-2000:]
  return row


def run_ipc(args):
  rows = []
  if not args.ipc_peer or not os.path.exists(args.ipc_peer):
    return rows
  try:
    p = subprocess.run([args.ipc_peer], stdout=subprocess.PIPE, timeout=90)
    lines = p.stdout.decode(errors="replace").splitlines()
  except subprocess.TimeoutExpired as e:
    lines = (e.stdout or b"").decode(errors="replace").splitlines()
    rows.append(dict(name="ipc_hostile_peer", category="ipc", what="driver", verdict="ERROR",
                     evidence="timed out", audit=""))
  for line in lines:
    try:
      d = json.loads(line)
    except ValueError:
      continue
    rows.append(dict(name=d["name"], category="ipc", what=d["what"], verdict=d["verdict"],
                     evidence=d["evidence"], audit=d["audit"]))
  return rows


def print_table(rows, width):
  cols = [("attack", 22), ("verdict", 10), ("evidence", None), ("audit record", None)]
  fixed = sum(w for _, w in cols if w) + 3 * len(cols)
  free = max(40, width - fixed)
  ev_w, au_w = free * 3 // 5, free - free * 3 // 5

  def cut(s, w):
    s = str(s).replace("\n", " ")
    return s if len(s) <= w else s[: w - 1] + "…"

  widths = [22, 10, ev_w, au_w]
  print(" | ".join(cut(c, w).ljust(w) for (c, _), w in zip(cols, widths)))
  print("-+-".join("-" * w for w in widths))
  for r in rows:
    print(" | ".join(cut(v, w).ljust(w) for v, w in zip(
        (r["name"], r["verdict"], r["evidence"], r["audit"]), widths)))


def run_all(args, fx):
  rows = []
  for attack in ATTACKS:
    if args.only and attack["name"] not in args.only:
      continue
    if not os.path.exists(os.path.join(args.attacks, attack["binary"])):
      rows.append(dict(name=attack["name"], category=attack["category"], what=attack["what"],
                       verdict="ERROR", evidence="attack binary not built", audit=""))
      continue
    rows.append(run_attack(args, fx, attack))
  if args.runner == "cordon" and not args.only:
    rows.extend(run_ipc(args))
  if not args.only:
    for name, what, comp in PENDING:
      rows.append(dict(name=name, category=comp, what=what, verdict="PENDING",
                       evidence="pending: %s not implemented" % (
                           "broker" if comp == "broker" else "launcher IPC lifecycle"),
                       audit="-"))
  return rows


def write_markdown(path, rows, bwrap_rows):
  """Side-by-side table for docs/security.md."""
  by_name = {r["name"]: r for r in bwrap_rows or []}

  def esc(text, n=110):
    text = str(text).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"

  with open(path, "w") as f:
    f.write("| # | attack | what it tries | cordon | cordon audit record | bwrap | bwrap evidence |\n")
    f.write("|---|---|---|---|---|---|---|\n")
    for i, r in enumerate(rows, 1):
      b = by_name.get(r["name"])
      f.write("| %d | `%s` | %s | %s | %s | %s | %s |\n" % (
          i, r["name"], esc(r["what"], 80), r["verdict"], esc(r["audit"], 90),
          b["verdict"] if b else ("n/a" if r.get("category") == "ipc" else "-"),
          esc(b["evidence"], 90) if b else ""))


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--cordon", required=True)
  ap.add_argument("--attacks", required=True, help="directory of built attack programs")
  ap.add_argument("--ipc-peer", help="cordon_ipc_hostile_peer binary (IPC rows)")
  ap.add_argument("--suid-probe", help="helper installed setuid root for setuid_exec")
  ap.add_argument("--runner", choices=("cordon", "bwrap"), default="cordon")
  ap.add_argument("--only", action="append", help="run only these attacks (repeatable)")
  ap.add_argument("--json", help="also write the rows as JSON to this file")
  ap.add_argument("--timeout", type=float, default=90, help="outer per-attack timeout (s)")
  ap.add_argument("--width", type=int, default=int(os.environ.get("COLUMNS", "200")))
  ap.add_argument("--verbose", action="store_true", help="keep NOTE lines and stderr in --json")
  ap.add_argument("--compare", metavar="MARKDOWN",
                  help="also run every attack under bwrap and write a side-by-side markdown table")
  args = ap.parse_args()
  if os.geteuid() != 0:
    # Quotas need cgroups, the setuid probe needs chown: the suite is meaningful only as root
    # (CI runs as root). 77 is ctest's SKIP_RETURN_CODE for this test.
    print("adversarial suite: needs root (cgroup quotas, setuid bait); skipped")
    return 77
  args.cordon = os.path.abspath(args.cordon)
  args.attacks = os.path.abspath(args.attacks)
  suid = args.suid_probe or os.path.join(os.path.dirname(args.attacks), "helpers", "suid_probe")

  fx = Fixtures(args.attacks, suid)
  fx.binary_hashes = {}
  started = time.monotonic()
  bwrap_rows = None
  try:
    rows = run_all(args, fx)
    if args.compare:
      bwrap_args = argparse.Namespace(**vars(args))
      bwrap_args.runner = "bwrap"
      bwrap_rows = run_all(bwrap_args, fx)
  finally:
    fx.close()

  print_table(rows, args.width)
  bad = [r for r in rows if r["verdict"] not in ("BLOCKED", "PENDING")]
  if bad:
    print("\nDetails of rows that are not BLOCKED:")
    for r in bad:
      print("- %s [%s]: %s\n  audit: %s" % (r["name"], r["verdict"], r["evidence"], r["audit"]))
      if r.get("stderr"):
        print("  stderr: %s" % r["stderr"].strip()[-400:])
  counts = {}
  for r in rows:
    counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
  sandbox_rows = [r for r in rows if r.get("category") not in ("ipc", "broker")]
  print("\n%d attacks under %s (%d sandbox, %d ipc), %d pending; %s; %.1f s" % (
      len(rows) - counts.get("PENDING", 0), args.runner, len(sandbox_rows),
      sum(1 for r in rows if r.get("category") == "ipc" and r["verdict"] != "PENDING"),
      counts.get("PENDING", 0),
      ", ".join("%s %d" % kv for kv in sorted(counts.items())), time.monotonic() - started))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows if bwrap_rows is None else {"cordon": rows, "bwrap": bwrap_rows}, f, indent=1)
  if args.compare:
    write_markdown(args.compare, rows, bwrap_rows)
    bc = {}
    for r in bwrap_rows:
      bc[r["verdict"]] = bc.get(r["verdict"], 0) + 1
    print("under bwrap: %s; side-by-side table in %s" % (
        ", ".join("%s %d" % kv for kv in sorted(bc.items())), args.compare))
  if counts.get("ESCAPED") or counts.get("ALLOWED"):
    return 1
  if counts.get("UNAUDITED") or counts.get("UNEXPECTED") or counts.get("ERROR"):
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
