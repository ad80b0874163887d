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

The broker rows (broker_*) and ipc_channel_under_cordon_run run a hostile C++ SDK plugin
(broker_attacker/, --broker-plugin) through the plugin lifecycle with `cordon call`, under a
profile that grants it a host directory, a loopback name and a unix socket; see "Broker and
in-sandbox IPC attacks" below. The ipc_* rows come from the hostile IPC peer (--ipc-peer),
which drives the host side of a session without a sandbox.

Verdicts: BLOCKED (all three hold), ESCAPED (2 failed: the host shows an effect), ALLOWED (1
failed without a visible host effect: an operation the policy forbids worked inside the sandbox,
e.g. a new user namespace, which widens kernel attack surface), UNAUDITED (1 and 2 hold, 3 does
not), UNEXPECTED (blocked, but not the way the suite expects: e.g. EPERM where a kill was
expected), KERNEL (an attack through a kernel feature this kernel lacks, IA32 emulation: it died
in the kernel before cordon was involved, as it would anywhere; not a cordon result, and not a
failure), ERROR (the attack or harness could not run). Exit status: 1 if anything ESCAPED or
ALLOWED, 2 if anything is UNAUDITED, UNEXPECTED or ERROR, else 0.

Only the standard library is used (python3 is the only dependency).
"""

import argparse
import ctypes
import ctypes.util
import hashlib
import ipaddress
import json
import mmap
import os
import pty
import pwd
import re
import select
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import tty

from outer_net import OuterNet

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
      bwrap_limits=(), category="", log_budget=None, stdout="pipe", needs_ia32=False,
      kernel_exit=()):
  return dict(name=name, binary=binary or name, what=what, audit=list(audit), args=list(args),
              flags=list(flags), exit=set(exit), stdin=stdin, fds=fds,
              bwrap_limits=list(bwrap_limits), category=category, log_budget=log_budget,
              stdout=stdout, needs_ia32=needs_ia32, kernel_exit=set(kernel_exit))


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
    # The i386 rows need a kernel with IA32 emulation to reach seccomp at all; without it
    # (kernel_exit) the kernel kills int $0x80 with SIGSEGV and refuses to exec an i386 ELF
    # (ENOEXEC, which cordon reports as a setup failure: 125), and the row is KERNEL, not
    # BLOCKED: nothing of cordon's was exercised. seccomp_compiler_test then proves the
    # filter's i386 branch on crafted seccomp_data.
    A("i386_syscall", "i386 syscall via int 0x80", [("seccomp_kill", None)], exit=(159,),
      category="abi", needs_ia32=True, kernel_exit=(128 + 11,)),
    A("i386_binary", "exec a 32-bit i386 program (every syscall i386)", [("seccomp_kill", None)],
      exit=(159,), category="abi", needs_ia32=True, kernel_exit=(125,)),
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
    # Exhaustion (each with an outer bound in the program and tight quotas here, and the
    # harness's own outer cgroup around the run: outer_net.py)
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
    A("disk_fill", "fill /tmp with 256 MiB under --tmp-size 1M", ISO + [("quota", "tmp_size")],
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


def probe_ia32(attacks_dir):
  """Whether this kernel runs i386 system calls, asked outside any sandbox: (bool, evidence)."""
  probe = os.path.join(os.path.dirname(attacks_dir), "helpers", "ia32_probe")
  if not os.path.exists(probe):
    # Without the probe nothing may be excused: the i386 rows are judged as on an IA32 kernel.
    return True, "ia32_probe not built"
  p = subprocess.run([probe], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
  if p.returncode == 0:
    return True, "int $0x80 works on the host"
  if p.returncode == -signal.SIGSEGV:
    return False, "int $0x80 raises SIGSEGV on the host"
  return True, "ia32_probe exit %s" % p.returncode


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
    self.ia32, self.ia32_evidence = probe_ia32(attacks_dir)
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


def outer_net_for(attack):
  """The harness's own net around one attack (outer_net.py): above the attack's quotas."""
  flags = list(attack["flags"])
  memory, pids = 1 << 30, 256
  if "--memory" in flags:
    memory = 4 * parse_size(flags[flags.index("--memory") + 1]) + (64 << 20)
  if "--pids" in flags:
    pids = 4 * int(flags[flags.index("--pids") + 1]) + 16
  return OuterNet(memory_bytes=memory, pids=pids)


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
  net = outer_net_for(attack)
  started = time.monotonic()
  try:
    p = subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                       env=env, pass_fds=pass_fds, timeout=args.timeout, start_new_session=True,
                       preexec_fn=net.preexec)
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
  # After the host checks (which look for the sandbox's cgroup inside the net's): what is
  # still in the net is a leak; then the net goes.
  problems += net.finish()
  if stdio_problem:
    problems.append(stdio_problem)
  # On a kernel without IA32 emulation an i386 row dies in the kernel before seccomp runs:
  # the exec of an i386 ELF fails (cordon: 125, "Exec format error") and int $0x80 raises
  # SIGSEGV. That outcome is the kernel's, not a launcher failure.
  kernel_refused = (attack["needs_ia32"] and not fx.ia32 and rc in attack["kernel_exit"] and
                    not (result and result[-1][0] == "escaped"))
  if args.runner == "cordon" and rc == 125 and start and not kernel_refused:
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
    evidence.append(net.note)

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
  elif kernel_refused:
    # Not BLOCKED: cordon's handling was not exercised. seccomp_compiler_test evaluates the
    # compiled filter on crafted i386 seccomp_data instead. A record claiming a seccomp kill
    # here would be wrong, so none may exist.
    verdict = "KERNEL"
    evidence.append("no IA32 emulation in this kernel (%s): the attack dies before seccomp" %
                    fx.ia32_evidence)
    row["audit"] = "none expected (the kernel ran no i386 call)"
    if any(r.get("type") == "seccomp.violation" for r in records):
      verdict = "UNEXPECTED"
      evidence.append("a seccomp.violation record for a call the kernel never ran")
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
  if args.verbose or verdict != "BLOCKED":
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


# --------------------------------------------------------------------------------------------
# Broker and in-sandbox IPC attacks. A hostile plugin built with the C++ SDK
# (broker_attacker/) runs through the plugin lifecycle (`cordon call`, so the broker and the
# IPC session are the launcher's own) under a profile whose bounds grant exactly what its
# manifest asks: /data (read, no symlinks), /follow (the same directory, read, symlinks that
# stay beneath followed), net.connect to localhost:PORT and to one unix socket, and log. Each
# call's input is the list of probes; the plugin reports what each got, including the first
# bytes of any file it opened. Host-side bait: the secret file next to the granted directory,
# a directory "outside" whose file holds the same secret, symlinks planted in the grant, the
# loopback listeners of the sandbox attacks, and a granted unix listener that must get exactly
# the connections the grant allows.
#
# Per row, as for the sandbox rows: (1) every probe failed the way the policy says (denied,
# or, for the positive controls, granted and no more: a read-only, non-O_PATH fd to a file
# that holds the granted marker), (2) the host shows no effect (no secret in the plugin's
# output, granted and outside files unchanged, no file created, listeners untouched, no
# process or cgroup left), (3) the audit log explains it: for broker rows one capability.use
# record per probe, in order, naming the probe's target, with decision deny and a reason
# (allow for the positive controls), or the quota.violation of the quota that stopped it; for
# the channel attacks the protocol.violation (or quota.violation) that killed the plugin.
# --------------------------------------------------------------------------------------------

GRANTED_MARK = "GRANTED-"


def probes_dotdot(b):
  s = b.host_secret
  return [("read", "/data/file", "ok"),
          ("read", "/data/../secret"), ("read", "/data/../../etc/shadow"),
          ("read", "/data/sub/../../secret"), ("read", "/data/./../secret"),
          ("read", "//data/..//secret"), ("read", "/data/sub/../file"),
          ("read", "/data/sub/" + "../" * 40 + "secret"), ("read", "/data/.."),
          ("read", "/dat/../data/file"), ("read", "/secret"), ("read", "/etc/shadow"),
          ("read", s), ("read", "data/../secret"), ("read", "../secret"),
          ("read", "/data/file\0/../../secret"), ("read", "/data/" + "x/" * 2100 + "file")]


def probes_symlink(b):
  s = b.host_secret
  out = [("read", "/follow/in_link", "ok"), ("read", "/data/in_link")]
  for grant in ("/data", "/follow"):
    out += [("read", grant + "/abs_link"), ("read", grant + "/rel_link"),
            ("read", grant + "/chain1"), ("read", grant + "/root_link" + s),
            ("read", grant + "/up_link/secret"), ("read", grant + "/dir_abs/file"),
            ("read", grant + "/dir_rel/file"), ("read", grant + "/sub/deep_link")]
  return out


def probes_magic(b):
  s = b.host_secret
  return [("read", "/proc/self/root" + s), ("read", "/proc/1/root/etc/shadow"),
          ("read", "/proc/self/fd/3"), ("read", "/proc/self/cwd" + s),
          ("read", "/data/selfroot" + s), ("read", "/follow/selfroot" + s),
          ("read", "/follow/fd_link"), ("read", "/follow/cwd_link/secret"),
          ("read", "/follow/procrel" + s), ("read", "/follow/launcher_root" + s)]


def probes_flags(b):
  f = "/data/file"
  return [("read", f, "ok"), ("read,unknown", f, "ok"),
          ("write", f), ("rw", f), ("write,append", f), ("write,truncate", f),
          ("read,truncate", f), ("read,append", f), ("read,create", "/data/newfile"),
          ("write,create", "/data/newfile"), ("rw,create,truncate", "/data/newfile"),
          ("write,create", "/data/"), ("unspec", f), ("mode=99", f), ("mode=-1", f),
          ("read", "/data"), ("read", "/data/sub"), ("read", "/data/sub/"),
          ("read", "/data/fifo"), ("read,create", "/data/sub")]


def probes_endpoints(b):
  p = b.fx.port
  out = [("", "unix:" + b.sock_path, "ok"), ("", "localhost:%d" % p)]
  if b.host_name:
    out.append(("", "%s:%d" % (b.host_name, p)))
  out += [("", "LOCALHOST:%d" % p), ("", "localhost.:%d" % p), ("", "localhost:%d" % (p + 1)),
          ("", "127.0.0.1:%d" % p), ("", "[::1]:%d" % p), ("", "127.1:%d" % p),
          ("", "2130706433:%d" % p), ("", "0x7f.0.0.1:%d" % p), ("", "0177.0.0.1:%d" % p),
          ("", "[::ffff:127.0.0.1]:%d" % p), ("", "[::ffff:7f00:1]:%d" % p),
          ("", "0.0.0.0:%d" % p), ("", "[::]:%d" % p), ("", "unix:" + b.fx.unix_path),
          ("", "unix:@" + b.fx.abstract), ("", "unix:" + b.sock_path + "/."),
          ("", "unix:" + os.path.dirname(b.sock_path) + "/./" + os.path.basename(b.sock_path)),
          ("", "unix:" + b.sock_path + "\0x"), ("", "localhost:%d\0.example.org" % p)]
  return out


# Channel attacks run from inside the sandbox: (input of the `ipc` method, or the bundle that
# attacks before its Hello; the audit record that must explain the kill).
IPC_SUBATTACKS = [
    ("oversized", ("protocol.violation", "oversized_datagram")),
    ("malformed", ("protocol.violation", "malformed_envelope")),
    ("length_lie", ("protocol.violation", "malformed_envelope")),
    ("unknown_message", ("protocol.violation", "unknown_message")),
    ("welcome_from_plugin", ("protocol.violation", "unexpected_message")),
    ("unknown_call_id", ("protocol.violation", "unknown_call_id")),
    ("fd_stuffing", ("protocol.violation", "truncated_control_data|too_many_fds")),
    ("memfd_size_lie", ("protocol.violation", "bad_payload")),
    ("heartbeat_flood", ("quota.violation", "message_flood")),
    ("before_hello", ("protocol.violation", "unexpected_message")),
]


def BA(name, what, kind, probes=None):
  return dict(name=name, what=what, kind=kind, probes=probes, category="broker")


BROKER_ATTACKS = [
    BA("broker_dotdot", "broker open '..', absolute and host paths out of /data", "probes",
       probes_dotdot),
    BA("broker_symlink_escape", "broker open through symlinks planted in the grant pointing out",
       "probes", probes_symlink),
    BA("broker_magic_link", "/proc/*/root, /proc/self/fd magic links; reopen a brokered fd rw",
       "magic", probes_magic),
    BA("broker_rename_race", "swap a granted dir for a symlink out (RENAME_EXCHANGE) during opens",
       "race"),
    BA("broker_flag_smuggling", "write/create/truncate/append/unknown flags on a read-only grant",
       "probes", probes_flags),
    BA("broker_endpoint_dns_rebind", "granted name resolving to loopback; address spellings",
       "connect", probes_endpoints),
    BA("broker_request_flood", "held fds, requests and logs past the broker quotas", "flood"),
    # Runs by default: the launcher's bounded sends turn it into a message_flood kill
    # (docs/security.md, finding 8).
    dict(name="broker_pipelined_flood", what="20000 broker requests without reading answers",
         kind="pipelined", probes=None, category="broker"),
    dict(name="ipc_channel_under_cordon_run", what="malformed/oversized/out-of-order/flood IPC "
         "from inside a sandboxed plugin", kind="ipc", probes=None, category="ipc"),
]

libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint]
AT_FDCWD, RENAME_EXCHANGE = -100, 2


class BrokerFixtures:
  """The granted directory, its planted links, the bundles and the profile."""

  def __init__(self, fx, plugin):
    self.fx = fx
    d = os.path.realpath(fx.dir)
    self.secret_text = open(fx.secret).read().strip()
    self.host_secret = os.path.join(d, "secret")
    self.granted = os.path.join(d, "granted")
    self.outside = os.path.join(d, "outside")
    for sub in (self.granted, self.outside, os.path.join(self.granted, "sub"),
                os.path.join(self.granted, "race")):
      os.mkdir(sub)
      os.chmod(sub, 0o755)
    g = lambda *p: os.path.join(self.granted, *p)

    def put(path, text, mode):
      with open(path, "w") as f:
        f.write(text)
      os.chmod(path, mode)

    put(g("file"), GRANTED_MARK + "file\n", 0o644)
    put(g("sub", "file"), GRANTED_MARK + "sub\n", 0o644)
    put(g("race", "file"), GRANTED_MARK + "race\n", 0o644)
    # World-writable on the host, like the sandbox rows' canary: only the read-only grant (and
    # isolation) protects it.
    put(g("rwfile"), GRANTED_MARK + "rwfile\n", 0o666)
    # Owned by the uid every sandbox maps to on the host (a data directory a service running as
    # nobody created): the same exposure without a world-writable mode.
    put(g("nobodyfile"), GRANTED_MARK + "nobodyfile\n", 0o644)
    os.chown(g("nobodyfile"), 65534, 65534)
    put(os.path.join(self.outside, "file"), self.secret_text + "\n", 0o644)
    os.mkfifo(g("fifo"), 0o666)
    links = {"in_link": "file", "abs_link": self.host_secret, "rel_link": "../secret",
             "chain1": "chain2", "chain2": "../secret", "root_link": "/", "up_link": "..",
             "dir_abs": self.outside, "dir_rel": "../outside", "selfroot": "/proc/self/root",
             "fd_link": "/proc/self/fd/0", "cwd_link": "/proc/self/cwd",
             "procrel": "../" * 24 + "proc/self/root",
             "launcher_root": "/proc/%d/root" % os.getpid(),
             "race_swap": self.outside, os.path.join("sub", "deep_link"): "../../secret"}
    for name, target in links.items():
      os.symlink(target, g(name))
    self.race_dir, self.race_swap = g("race"), g("race_swap")
    # A granted unix listener: the positive control for connects.
    self.sock_path = os.path.join(d, "granted.sock")
    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    self.sock.bind(self.sock_path)
    os.chmod(self.sock_path, 0o777)
    self.sock.listen(16)
    self.sock.setblocking(False)
    # The host's own name, if it resolves to an internal address here (typically via
    # /etc/hosts): a second granted name that must not reach the loopback listener.
    self.host_name = None
    try:
      name = socket.gethostname()
      addrs = {a[4][0] for a in socket.getaddrinfo(name, fx.port, type=socket.SOCK_STREAM)}
      if addrs and all(ipaddress.ip_address(a.split("%")[0]).is_private for a in addrs) and \
          re.match(r"^[a-z0-9][a-z0-9.-]*$", name) and name != "localhost":
        self.host_name = name
    except (OSError, ValueError):
      pass
    with open(os.path.join(HERE, "broker_attacker", "manifest.textproto")) as f:
      template = string.Template(f.read())
    extra = ('capabilities { kind: "net.connect" target: "%s:%d" }' % (self.host_name, fx.port)
             if self.host_name else "")
    self.bundles = {}
    for bundle, argv in (("main", [fx.token]), ("before_hello", ["--before-hello", fx.token])):
      bdir = os.path.join(d, "bundle-" + bundle)
      os.mkdir(bdir)
      os.chmod(bdir, 0o755)
      shutil.copy(plugin, os.path.join(bdir, "broker_attacker"))
      with open(os.path.join(bdir, "manifest.textproto"), "w") as f:
        f.write(template.substitute(
            args="\n".join('args: "%s"' % a for a in argv), port=fx.port,
            granted_sock=self.sock_path, extra_capabilities=extra))
      self.bundles[bundle] = bdir
    self.binary = os.path.join(self.bundles["main"], "broker_attacker")
    fx.binary_hashes.setdefault(self.binary, sha256(self.binary))
    with open(os.path.join(HERE, "..", "..", "sandbox-profiles", "profiles",
                           "default.textproto")) as f:
      profile = f.read()
    bounds = ['fs { plugin_path: "/data" host_path: "%s" read: true }' % self.granted,
              'fs { plugin_path: "/follow" host_path: "%s" read: true follow_symlinks: true }' %
              self.granted,
              'net_connect: "localhost:%d"' % fx.port, 'net_connect: "unix:%s"' % self.sock_path,
              "log: true"]
    if self.host_name:
      bounds.append('net_connect: "%s:%d"' % (self.host_name, fx.port))
    profile += "\ncapabilities {\n  %s\n}\n" % "\n  ".join(bounds)
    self.profile = os.path.join(d, "broker-profile.textproto")
    with open(self.profile, "w") as f:
      f.write(profile)
    self.baseline = self.tree_state()

  def tree_state(self):
    """Every entry of the granted and outside trees, with the hash of each regular file."""
    state = {}
    for top in (self.granted, self.outside):
      for root, dirs, files in os.walk(top):
        for name in dirs + files:
          p = os.path.join(root, name)
          state[p] = "link:" + os.readlink(p) if os.path.islink(p) else (
              sha256(p) if os.path.isfile(p) else "other")
    return state

  def restore(self):
    """Puts back what an escaped attack changed, so later rows start from the same host."""
    for name in ("rwfile", "nobodyfile"):
      with open(os.path.join(self.granted, name), "w") as f:
        f.write(GRANTED_MARK + name + "\n")
    for p in set(self.tree_state()) - set(self.baseline):
      if os.path.isfile(p) and not os.path.islink(p):
        os.unlink(p)

  def accept_granted(self):
    n = 0
    while True:
      try:
        c, _ = self.sock.accept()
      except (BlockingIOError, OSError):
        return n
      n += 1
      c.close()

  def close(self):
    self.sock.close()


def cordon_call(args, fx, b, method, text, bundle="main", tag="", flags=(), timeout=None):
  """Runs one `cordon call`; returns a dict with rc, out, err, seconds, records, bad, log."""
  tag = tag or method
  log = os.path.join(fx.dir, "audit-broker-%s.jsonl" % tag)
  inp = os.path.join(fx.dir, "input-%s.txt" % tag)
  with open(inp, "w", encoding="utf-8", errors="surrogateescape") as f:
    f.write(text)
  cmd = [args.cordon, "call", "--profile", b.profile, "--audit-log", log, "--input", inp] + \
      list(flags) + [b.bundles[bundle], method]
  env = {"PATH": "/usr/bin:/bin", "CORDON_ADV_SECRET": "hunter2-%d" % os.getpid()}
  for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
    if k in os.environ:
      env[k] = os.environ[k]
  started = time.monotonic()
  try:
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=timeout or args.timeout,
                       start_new_session=True)
    rc, out, err = p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(
        errors="replace")
  except subprocess.TimeoutExpired as e:
    rc, out, err = None, (e.stdout or b"").decode(errors="replace"), "harness timeout"
  seconds = time.monotonic() - started
  records, bad = read_audit(log)
  verified = subprocess.run([args.cordon, "audit", "verify", log], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
  return dict(rc=rc, out=out, err=err, seconds=seconds, records=records, bad=bad, log=log,
              verify_ok=verified.returncode == 0,
              verify=verified.stdout.decode(errors="replace").strip()[-200:],
              spawn=next((r for r in records if r.get("type") in ("plugin.spawn",
                                                                  "plugin.start")), None))


class Judgement:
  """What one broker row found: (1) failures, (2) host effects, (3) audit."""

  def __init__(self):
    self.allowed = []    # forbidden operations that worked inside the sandbox
    self.escapes = []    # host effects (data from outside the grant, files changed...)
    self.errors = []     # the attack could not run as designed
    self.unexpected = []  # blocked, but not the way the suite expects
    self.audit_problems = []
    self.shown = []
    self.evidence = []


def parse_probes(out):
  found = {}
  for m in re.finditer(r"^PROBE (\d+) (\w+) ?(.*)$", out, re.M):
    found.setdefault(int(m.group(1)), []).append((m.group(2), m.group(3)))
  return found


def opened_fields(rest):
  fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', rest))
  fields["data"] = fields.get("data", '""')[1:-1]
  return fields


def judge_probes(j, b, call, probes, capability_filter):
  """Open/connect probes: one answer and one capability.use record per probe, in order."""
  got = parse_probes(call["out"])
  uses = [r for r in call["records"] if r.get("type") == "capability.use"
          and r.get("capability") != "log"]
  denied = ok = 0
  for i, probe in enumerate(probes):
    spec, target, expect = (probe + ("deny",))[:3]
    shown_target = target.replace("\0", "\\0")[:60]
    answer = got.get(i)
    if not answer:
      j.errors.append("no answer for probe %d (%s)" % (i, shown_target))
      continue
    what, rest = answer[0]
    if what == "opened":
      f = opened_fields(rest)
      if b.secret_text in f["data"] or not f["data"].startswith(GRANTED_MARK):
        j.escapes.append("%s %s read %r" % (spec, shown_target, f["data"][:40]))
      elif expect == "deny":
        j.allowed.append("%s %s opened" % (spec, shown_target))
      elif f.get("acc") != "rdonly" or f.get("opath") != "0" or f.get("write") == "ok" or \
          f.get("type") != "reg":
        j.allowed.append("%s %s gave more than a read-only file fd: %s" % (spec, shown_target,
                                                                          rest[:80]))
      else:
        ok += 1
    elif what == "connected":
      if expect == "deny":
        j.allowed.append("connect %s succeeded" % shown_target)
      else:
        ok += 1
    elif what == "denied":
      if expect == "ok":
        j.unexpected.append("positive control %s %s denied: %s" % (spec, shown_target,
                                                                   rest[:100]))
      else:
        denied += 1
    # The record for this probe: same position, same target, the decision the answer implies.
    rec = uses[i] if i < len(uses) else None
    rtarget = (rec or {}).get("target", "")
    # The broker echoes at most 4096 bytes of a target (and the audit writer cuts there too).
    same = rec is not None and (rtarget == target or (
        len(target) > 4096 and len(rtarget) >= 4000 and target.startswith(rtarget)))
    if not same:
      j.audit_problems.append("no capability.use for probe %d (%s)" % (i, shown_target))
    elif rec.get("capability") not in capability_filter:
      j.audit_problems.append("probe %d recorded as %s" % (i, rec.get("capability")))
    elif expect == "deny" and (rec.get("decision") != "deny" or not rec.get("reason")):
      j.audit_problems.append("probe %d (%s) recorded %s without a reason" % (
          i, shown_target, rec.get("decision")))
    elif expect == "ok" and rec.get("decision") != "allow":
      j.audit_problems.append("positive control %d recorded %s" % (i, rec.get("decision")))
  if len(uses) != len(probes):
    j.audit_problems.append("%d capability.use records for %d probes" % (len(uses), len(probes)))
  if capability_filter == ("net.connect",):
    j.evidence.append("%d endpoints: %d denied, %d granted (control) connected" % (
        len(probes), denied, ok))
  else:
    j.evidence.append("%d opens: %d denied, %d granted (control) as a read-only fd" % (
        len(probes), denied, ok))
  deny_recs = [r for r in uses if r.get("decision") == "deny"]
  if deny_recs:
    j.shown.append("%d x capability.use{deny} e.g. %s: %s" % (
        len(deny_recs), deny_recs[0].get("target", "")[:30],
        str(deny_recs[0].get("reason", ""))[:70]))
  return ok


def judge_reopen(j, b, call):
  """The magic-link reopen: a read-only brokered fd reopened rw through /proc/self/fd."""
  leaks = re.findall(r"^NOTE probe \d+: (\S+) -> (.*)$", call["out"], re.M)
  refused = 0
  for n, answers in parse_probes(call["out"]).items():
    for what, rest in answers:
      if what in ("reopened", "walked"):
        j.allowed.append("%s %s" % (what, rest[:60]))
      elif what == "refused":
        refused += 1
      elif what == "denied":
        j.unexpected.append("granted open for the reopen probe denied: %s" % rest[:80])
  j.evidence.append("reopen via /proc/self/fd: %d refused, %d worked" % (
      refused, len([a for a in j.allowed if a.startswith("reopened")])))
  if leaks:
    j.evidence.append("note: readlink(/proc/self/fd) shows the host path %s" % leaks[0][1][:60])
  uses = [r for r in call["records"] if r.get("type") == "capability.use"]
  if len(uses) != 3 or any(r.get("decision") != "allow" or r.get("capability") != "fs.read"
                           for r in uses):
    j.audit_problems.append("expected 3 capability.use{fs.read,allow} for the reopen probes")
  um = (call["spawn"] or {}).get("uid_map", {})
  if um.get("host_uid") in (None, 0):
    j.audit_problems.append("plugin.spawn does not show an unprivileged uid map")
  else:
    j.shown.append("reopen: fs.read allow x3 + plugin.spawn{uid 1000->%s}" % um.get("host_uid"))


def run_race(args, fx, b, j):
  """Host racer: exchanges granted/race (a dir) with granted/race_swap (a symlink to the
  outside dir) in a loop while the plugin opens race/file under both grants.

  The race must really run during the opens: the call starts only once the racer has swapped
  (it says so through a pipe), the racer runs until the call has returned (its own bound is
  far beyond the call's timeout, and it reports whether it hit it), and the opens must have
  met both states (some opened the granted file, some were refused mid-swap). A run where the
  opens happened before or after the swapping is an error of the row, not a pass."""
  shared = mmap.mmap(-1, 24)  # [0] stop flag, [8:16] swaps, [16] 1 if the racer hit its bound
  ready_r, ready_w = os.pipe()
  pid = os.fork()
  if pid == 0:
    try:
      os.close(ready_r)
      a, z = b.race_dir.encode(), b.race_swap.encode()
      n = 0
      bound = time.monotonic() + args.timeout + 60
      while shared[0] == 0:
        if libc.renameat2(AT_FDCWD, a, AT_FDCWD, z, RENAME_EXCHANGE) == 0:
          n += 1
          if n == 1:
            os.write(ready_w, b"s")
            os.close(ready_w)
          if n % 16 == 0:
            shared[8:16] = n.to_bytes(8, "little")
            if time.monotonic() > bound:
              shared[16] = 1
              break
      if n % 2:
        libc.renameat2(AT_FDCWD, a, AT_FDCWD, z, RENAME_EXCHANGE)
      shared[8:16] = n.to_bytes(8, "little")
    finally:
      os._exit(0)
  os.close(ready_w)
  call = None
  swaps_before = swaps_during = 0
  try:
    started, _, _ = select.select([ready_r], [], [], 30)
    if started and os.read(ready_r, 1) == b"s":
      swaps_before = int.from_bytes(shared[8:16], "little")
      call = cordon_call(args, fx, b, "race", "600 /data/race/file /follow/race/file\n")
      swaps_during = int.from_bytes(shared[8:16], "little") - swaps_before
  finally:
    shared[0] = 1
    os.waitpid(pid, 0)
    os.close(ready_r)
  swaps = int.from_bytes(shared[8:16], "little")
  if call is None:
    j.errors.append("the racer never swapped within 30 s; the opens were not run")
    return cordon_call(args, fx, b, "race", "1 /data/race/file\n", tag="race-unrun")
  if shared[16]:
    j.errors.append("the racer hit its own bound before the opens ended")
  if not os.path.isdir(b.race_dir) or os.path.islink(b.race_dir):
    j.errors.append("racer left the directories swapped")
  m = re.search(r"^RACE opened=(\d+) denied=(\d+) throttled=(\d+)", call["out"], re.M)
  if not m:
    j.errors.append("no RACE line from the plugin")
    return call
  opened, denied, throttled = (int(x) for x in m.groups())
  outcomes = re.findall(r"^OUTCOME (\d+) (.*)$", call["out"], re.M)
  for count, what in outcomes:
    if what.startswith("data:") and (not what[5:].startswith(GRANTED_MARK) or
                                      b.secret_text in what):
      j.escapes.append("%s opens read %r" % (count, what[5:45]))
    elif not what.startswith("data:") and what != "PERMISSION_DENIED":
      j.unexpected.append("%s opens answered %s" % (count, what))
  j.evidence.append("%d swaps by the host racer (%d while the plugin ran); %d opens: %d "
                    "granted file, %d denied mid-swap, %d throttled" % (
                        swaps, swaps_during, opened + denied, opened, denied, throttled))
  # The swapper ran from before the call to after it, so every open raced it; both outcomes
  # show that the opens and the swaps really interleaved.
  if swaps_during < 2:
    j.errors.append("only %d swaps while the plugin ran" % swaps_during)
  if opened + denied < 100:
    j.errors.append("only %d opens while the racer ran" % (opened + denied))
  elif opened == 0 or denied == 0:
    j.errors.append("the opens never met %s while the racer ran (%d opened, %d denied)" % (
        "the real directory" if opened == 0 else "the swapped symlink", opened, denied))
  uses = [r for r in call["records"] if r.get("type") == "capability.use"
          and r.get("code") != "RESOURCE_EXHAUSTED"]
  deny = [r for r in uses if r.get("decision") == "deny"]
  if len(deny) != denied or any(not r.get("reason") for r in deny):
    j.audit_problems.append("%d deny records with a reason for %d denied opens" % (
        len(deny), denied))
  elif deny:
    j.shown.append("%d x capability.use{deny}: %s" % (len(deny), str(deny[0]["reason"])[:70]))
  else:
    j.shown.append("%d x capability.use{allow}, the race was never won" % len(uses))
  return call


def run_flood(args, fx, b, j):
  calls = []
  call = cordon_call(args, fx, b, "flood", "HOLD 80 FLOOD 700 LOGS 250 /data/file\n")
  calls.append(call)
  phases = {}
  for m in re.finditer(r"^(HOLD|FLOOD|LOGS) sent=(\d+) ms=(\d+)(.*)$", call["out"], re.M):
    phases[m.group(1)] = dict(sent=int(m.group(2)), ms=int(m.group(3)),
                              **{k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(4))})
  if set(phases) != {"HOLD", "FLOOD", "LOGS"}:
    j.errors.append("flood did not report its phases (rc %s)" % call["rc"])
    return calls
  hold, flood = phases["HOLD"], phases["FLOOD"]
  if hold.get("OK", 0) > 64:
    j.allowed.append("held %d brokered fds (limit 64)" % hold["OK"])
  budget = 400 + 200 * (hold["ms"] + flood["ms"]) / 1000.0 + 5
  if hold.get("OK", 0) + flood.get("OK", 0) > budget:
    j.allowed.append("%d requests granted, above burst 400 + 200/s" % (
        hold.get("OK", 0) + flood.get("OK", 0)))
  if not flood.get("RESOURCE_EXHAUSTED"):
    j.allowed.append("no request was refused by the rate quota")
  quotas = {}
  for r in call["records"]:
    if r.get("type") == "quota.violation":
      quotas[r.get("quota")] = quotas.get(r.get("quota"), 0) + 1
  exhausted = [r for r in call["records"] if r.get("type") == "capability.use"
               and r.get("code") == "RESOURCE_EXHAUSTED" and r.get("capability") != "log"]
  refused = hold.get("RESOURCE_EXHAUSTED", 0) + flood.get("RESOURCE_EXHAUSTED", 0)
  for q in ("broker_held_fds", "broker_request_rate", "broker_log_rate"):
    if not quotas.get(q):
      j.audit_problems.append("no quota.violation for %s" % q)
  if len(exhausted) != refused or any(r.get("decision") != "deny" for r in exhausted):
    j.audit_problems.append("%d capability.use{deny,RESOURCE_EXHAUSTED} for %d refusals" % (
        len(exhausted), refused))
  size = os.path.getsize(call["log"])
  j.evidence.append("held %d/%d fds; %d/%d flood requests granted in %d ms; audit log %d KiB "
                    "for %d requests (%d quota.violation records)" % (
                        hold.get("OK", 0), hold["sent"], flood.get("OK", 0), flood["sent"],
                        flood["ms"], size >> 10, hold["sent"] + flood["sent"],
                        sum(quotas.values())))
  j.shown.append("quota.violation{%s}; %d x capability.use{deny,RESOURCE_EXHAUSTED}" % (
      ",".join("%s x%d" % kv for kv in sorted(quotas.items())), len(exhausted)))
  return calls


def run_pipelined(args, fx, b, j):
  """20000 broker requests sent without reading one answer. The channel's unsolicited-message
  budget (500/s, burst 1000) should get the plugin killed; the call's 3 s deadline bounds it
  in any case. The launcher's answers fill the plugin's queue; its bounded send (finding 8 in
  docs/security.md, fixed) turns the full queue into a message_flood kill instead of a hang."""
  call = cordon_call(args, fx, b, "ipc", "broker_flood_pipelined\n", tag="pipelined",
                     flags=["--timeout", "3s"], timeout=15)
  hit = next((r for r in call["records"] if r.get("type") == "quota.violation"
              and r.get("quota") in ("message_flood", "call_deadline_exceeded")), None)
  answered = sum(1 for r in call["records"] if r.get("type") == "capability.use")
  if call["rc"] is None:
    # The harness killed the hung launcher, which therefore could not remove the cgroup.
    for d in cgroup_dirs((call["spawn"] or {}).get("quota_backend", "")):
      try:
        os.rmdir(d)
      except OSError:
        pass
    j.escapes.append("launcher hung: `cordon call --timeout 3s` still running after 15 s, "
                     "%d requests answered" % answered)
  elif call["rc"] == 0 or "RESULT escaped" in call["out"]:
    j.allowed.append("pipelined flood: plugin not stopped (exit %s)" % call["rc"])
  else:
    j.evidence.append("plugin stopped after %.1f s, %d requests answered" % (call["seconds"],
                                                                            answered))
  if hit:
    j.shown.append("quota.violation{%s,%s}" % (hit.get("quota"), hit.get("action")))
  else:
    j.audit_problems.append("no quota.violation{message_flood}")
  return call


def run_ipc_in_sandbox(args, fx, b, j):
  calls, killed, shown = [], 0, []
  for name, (rtype, kinds) in IPC_SUBATTACKS:
    if name == "before_hello":
      call = cordon_call(args, fx, b, "ipc", "", bundle="before_hello", tag="ipc-" + name)
      want_rc = (125,)  # the load itself fails
    else:
      call = cordon_call(args, fx, b, "ipc", name + "\n", tag="ipc-" + name)
      want_rc = (1,)
    calls.append(call)
    field = "quota" if rtype == "quota.violation" else "violation"
    rec = next((r for r in call["records"] if r.get("type") == rtype
                and r.get(field) in kinds.split("|")), None)
    exit_rec = next((r for r in call["records"] if r.get("type") == "plugin.exit"), None)
    if "RESULT escaped" in call["out"] or call["rc"] == 0:
      j.allowed.append("%s: host accepted it (exit %s)" % (name, call["rc"]))
    elif call["rc"] not in want_rc:
      j.unexpected.append("%s: exit %s, expected %s (%s)" % (
          name, call["rc"], want_rc, call["err"].strip()[-100:]))
    elif call["seconds"] > 8:
      j.unexpected.append("%s: took %.1f s (not stopped at the violation)" % (name,
                                                                             call["seconds"]))
    elif exit_rec is None or "signal" not in exit_rec:
      # Exit 1 alone could be the plugin failing its own call; the launcher must have killed it.
      j.unexpected.append("%s: plugin not killed (%s)" % (name, render(exit_rec or {})))
    else:
      killed += 1
    if not rec:
      j.audit_problems.append("%s: no %s{%s}" % (name, rtype, kinds))
    elif rec.get("action") != "killed":
      j.audit_problems.append("%s: %s action %s" % (name, rtype, rec.get("action")))
    else:
      shown.append("%s{%s}" % (rtype.split(".")[0], rec.get(field)))
    if exit_rec is None or "signal" not in exit_rec:
      j.audit_problems.append("%s: no plugin.exit by signal" % name)
  j.evidence.append("%d/%d channel attacks stopped, plugin killed, %.1f s in all" % (
      killed, len(IPC_SUBATTACKS), sum(c["seconds"] for c in calls)))
  j.shown.append(", ".join(sorted(set(shown))) + " (action killed); plugin.exit{signal=9}")
  return calls


def run_broker_attack(args, fx, b, attack):
  j = Judgement()
  before = b.tree_state()
  b.accept_granted()
  fx.before_attack = fx.snapshot()
  started = time.monotonic()
  kind, calls, controls = attack["kind"], [], 0
  if kind in ("probes", "magic", "connect"):
    probes = attack["probes"](b)
    method = "connect" if kind == "connect" else "open"
    cap = ("net.connect",) if kind == "connect" else ("fs.read", "fs.write", "fs.create")
    call = cordon_call(args, fx, b, method, "".join("%s %s\n" % (s, t) if method == "open"
                                                    else t + "\n" for s, t, *_ in probes),
                       tag=attack["name"])
    calls.append(call)
    controls = judge_probes(j, b, call, probes, cap)
    if kind == "magic":
      call = cordon_call(args, fx, b, "reopen", "/data/file\n/data/rwfile\n/data/nobodyfile\n",
                         tag=attack["name"] + "-reopen")
      calls.append(call)
      judge_reopen(j, b, call)
  elif kind == "race":
    calls.append(run_race(args, fx, b, j))
  elif kind == "flood":
    calls += run_flood(args, fx, b, j)
  elif kind == "pipelined":
    calls.append(run_pipelined(args, fx, b, j))
  elif kind == "ipc":
    calls += run_ipc_in_sandbox(args, fx, b, j)
  elapsed = time.monotonic() - started

  # (2) The host: no secret in anything the plugin said, the trees as they were, the granted
  # listener reached exactly as often as the grant allows, and the sandbox rows' checks.
  problems = []
  for c in calls:
    if b.secret_text in c["out"] or b.secret_text in c["err"]:
      problems.append("the plugin's output holds the host secret")
    if c["rc"] is None:
      j.errors.append("harness timeout")
    problems += [p for p in fx.host_checks(b.binary, c["spawn"]) if p not in problems]
    if c["bad"] or not c["verify_ok"]:
      j.audit_problems.append("audit verify failed: %s" % c["verify"])
  now = b.tree_state()
  changed = sorted(p for p in set(now) | set(before) if now.get(p) != before.get(p))
  if changed:
    problems.append("changed on the host: %s" % ", ".join(
        os.path.relpath(p, fx.dir) for p in changed[:4]))
  connections = b.accept_granted()
  if kind == "connect" and connections != controls:
    problems.append("granted listener got %d connections for %d granted connects" % (
        connections, controls))
  elif kind != "connect" and connections:
    problems.append("granted listener got %d connections" % connections)
  if changed:
    b.restore()

  row = dict(name=attack["name"], category=attack["category"], what=attack["what"],
             rc=",".join(str(c["rc"]) for c in calls), seconds=round(elapsed, 2))
  evidence = list(j.evidence)
  if j.escapes:
    evidence.append("ESCAPE: " + "; ".join(j.escapes[:3]))
  if j.allowed:
    evidence.append("succeeded: " + "; ".join(j.allowed[:3]))
  if j.unexpected or j.errors:
    evidence.append("; ".join((j.errors + j.unexpected)[:3]))
  if problems:
    evidence.append("HOST: " + "; ".join(problems))
  row["audit"] = "; ".join(j.shown) if not j.audit_problems else (
      "MISSING: " + "; ".join(j.audit_problems[:4]))
  if problems or j.escapes:
    verdict = "ESCAPED"
  elif j.allowed:
    verdict = "ALLOWED"
  elif j.errors:
    verdict = "ERROR"
  elif j.unexpected:
    verdict = "UNEXPECTED"
  elif j.audit_problems:
    verdict = "UNAUDITED"
  else:
    verdict = "BLOCKED"
  row["verdict"] = verdict
  row["evidence"] = " | ".join(evidence)
  if args.verbose or verdict != "BLOCKED":
    row["notes"] = [c["out"][-3000:] for c in calls]
    row["stderr"] = "\n".join(c["err"][-600:] for c in calls)
  return row


def run_broker(args, fx):
  rows = []
  todo = [a for a in BROKER_ATTACKS if (a["name"] in args.only if args.only else
                                        not a.get("opt_in"))]
  if not todo:
    return rows
  if not args.broker_plugin or not os.path.exists(args.broker_plugin):
    for a in todo:
      rows.append(dict(name=a["name"], category=a["category"], what=a["what"], verdict="ERROR",
                       evidence="broker attacker plugin not built (--broker-plugin)", audit=""))
    return rows
  b = BrokerFixtures(fx, args.broker_plugin)
  try:
    for a in todo:
      rows.append(run_broker_attack(args, fx, b, a))
  finally:
    b.close()
  return rows


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
  if args.runner == "cordon":
    rows.extend(run_broker(args, fx))
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
          b["verdict"] if b else ("n/a" if r.get("category") in ("ipc", "broker") else "-"),
          esc(b["evidence"], 90) if b else ""))


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--cordon", required=True)
  ap.add_argument("--attacks", required=True, help="directory of built attack programs")
  ap.add_argument("--ipc-peer", help="cordon_ipc_hostile_peer binary (IPC rows)")
  ap.add_argument("--broker-plugin",
                  help="broker_attacker executable (broker rows and the in-sandbox IPC row)")
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
  bad = [r for r in rows if r["verdict"] != "BLOCKED"]
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
  print("\n%d attacks under %s (%d sandbox, %d ipc, %d broker); %s; %.1f s" % (
      len(rows), args.runner, len(sandbox_rows),
      sum(1 for r in rows if r.get("category") == "ipc"),
      sum(1 for r in rows if r.get("category") == "broker"),
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
