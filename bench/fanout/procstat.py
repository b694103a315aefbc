"""CPU time and memory of a process tree, read from /proc (Linux only)."""

from __future__ import annotations

import os
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses: split after the LAST ')'.
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest  # rest[0] is field 3 (state)


def descendants(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _read_stat(int(name))
        if st is None:
            continue
        children.setdefault(int(st[1]), []).append(int(name))  # field 4: ppid
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


@dataclass(frozen=True)
class CpuSample:
    user_s: float
    sys_s: float
    pids: int

    @property
    def total_s(self) -> float:
        return self.user_s + self.sys_s

    def __sub__(self, other: CpuSample) -> CpuSample:
        return CpuSample(self.user_s - other.user_s, self.sys_s - other.sys_s, max(self.pids, other.pids))


def cpu(pids: list[int]) -> CpuSample:
    """utime + stime (all threads of each process) summed over ``pids``, in seconds."""
    user = sys_ = 0
    n = 0
    for pid in pids:
        st = _read_stat(pid)
        if st is None:
            continue
        user += int(st[11])  # field 14: utime
        sys_ += int(st[12])  # field 15: stime
        n += 1
    return CpuSample(user / CLK_TCK, sys_ / CLK_TCK, n)


def tree_cpu(root: int) -> CpuSample:
    return cpu(descendants(root))


def tree_rss_bytes(root: int) -> int:
    total = 0
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass(frozen=True)
class MachineSample:
    busy_s: float  # user + nice + system + irq + softirq + steal, summed over CPUs
    total_s: float  # busy + idle + iowait

    def __sub__(self, other: MachineSample) -> MachineSample:
        return MachineSample(self.busy_s - other.busy_s, self.total_s - other.total_s)


def machine_cpu() -> MachineSample:
    """The ``cpu`` line of /proc/stat: all CPUs together."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    return MachineSample(busy / CLK_TCK, (busy + idle + iowait) / CLK_TCK)
