#!/usr/bin/env python3
"""A box: a command run inside a cgroup with a CPU and a memory limit, as a small host runs an app (root, Linux).

    python tools/box.py --box 1,1g -- python -m gru_viz build-ext    # the command's peak memory and OOM kills

CPUS is a CFS quota (0.5 = half a core's time), MEMORY bytes with k/m/g (1g = 2^30). cgroup v1 (cpu and memory
hierarchies) and v2 (one unified hierarchy) are both handled; the box is made under this process's own cgroups, so
limits above it still apply. Exit status: the command's, or 2 when the box cannot be made (with one line why).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
PERIOD_US = 100_000  # the CFS period; the quota is cpus times this
UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}


class BoxError(RuntimeError):
    """The box cannot be made here; the message is one line for a person."""


@dataclass(frozen=True)
class BoxSpec:
    cpus: float
    memory: int  # bytes

    def label(self) -> str:
        mem = f"{self.memory / 2**30:.2g} GB" if self.memory >= 2**30 else f"{self.memory / 2**20:.0f} MB"
        return f"{self.cpus:g} CPU{'s' if self.cpus != 1 else ''}, {mem}"


def parse_box(text: str) -> BoxSpec:
    """"CPUS,MEMORY" such as "1,2.7g", "0.5,690m" or "2,2800000000"; ValueError with a readable message."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*,\s*([0-9]*\.?[0-9]+)\s*([kmgKMG]?)[bB]?\s*", text)
    if not m:
        raise ValueError(f"a box is CPUS,MEMORY such as 1,2.7g or 0.5,690m, not {text!r}")
    cpus, memory = float(m.group(1)), int(float(m.group(2)) * UNITS[m.group(3).lower()])
    if not (0.01 <= cpus <= 256):
        raise ValueError(f"CPUS must be from 0.01 to 256, not {m.group(1)}")
    if memory < 64 * 2**20:
        raise ValueError(f"MEMORY must be at least 64m, not {m.group(2)}{m.group(3)}")
    return BoxSpec(cpus, memory)


@dataclass
class Plan:
    """What making the box writes: folders, (file, value) pairs in order, and the cgroup.procs files a process
    joins; `version` 1 or 2 says where its statistics are read."""

    version: int
    folders: list[Path]
    writes: list[tuple[Path, str]] = field(default_factory=list)
    procs: list[Path] = field(default_factory=list)


def own_cgroups(proc_cgroup: Path = PROC_CGROUP) -> dict[str, str]:
    """This process's cgroup path per v1 controller, and "" -> its v2 path."""
    out: dict[str, str] = {}
    try:
        for line in proc_cgroup.read_text().splitlines():
            parts = line.split(":", 2)
            if len(parts) == 3:
                for controller in parts[1].split(",") if parts[1] else [""]:
                    out[controller] = parts[2]
    except OSError:
        pass
    return out


def plan_box(spec: BoxSpec, name: str, root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> Plan:
    """The folders and writes for a box called `name`: v1 where the cpu and memory hierarchies are mounted
    separately, else v2 (the root, or unified/ on a hybrid host). Raises BoxError where neither is found."""
    own = own_cgroups(proc_cgroup)
    quota = max(1000, round(spec.cpus * PERIOD_US))
    if (root / "cpu" / "cgroup.procs").is_file() and (root / "memory" / "cgroup.procs").is_file():
        cpu = root / "cpu" / own.get("cpu", "/").lstrip("/") / name
        mem = root / "memory" / own.get("memory", "/").lstrip("/") / name
        return Plan(1, [cpu, mem],
                    [(cpu / "cpu.cfs_period_us", str(PERIOD_US)), (cpu / "cpu.cfs_quota_us", str(quota)),
                     (mem / "memory.limit_in_bytes", str(spec.memory))],
                    [cpu / "cgroup.procs", mem / "cgroup.procs"])
    for unified in (root, root / "unified"):
        controllers = unified / "cgroup.controllers"
        if controllers.is_file() and {"cpu", "memory"} <= set(controllers.read_text().split()):
            parent = unified / own.get("", "/").lstrip("/")
            box = parent / name
            writes = []
            enabled = (parent / "cgroup.subtree_control")
            if not {"cpu", "memory"} <= set(enabled.read_text().split() if enabled.is_file() else []):
                writes.append((enabled, "+cpu +memory"))  # children get the controllers; root or an empty group
            writes += [(box / "cpu.max", f"{quota} {PERIOD_US}"), (box / "memory.max", str(spec.memory)),
                       (box / "memory.swap.max", "0")]
            return Plan(2, [box], writes, [box / "cgroup.procs"])
    raise BoxError(f"no cgroup v1 cpu and memory hierarchies nor a v2 hierarchy with cpu and memory under {root}")


def wrap(command: list[str], procs: list[Path]) -> list[str]:
    """The command as a shell that first moves itself into the box (so everything it starts is inside), then
    becomes the command (exec: same process id)."""
    joins = " && ".join(f"echo $$ > {shlex.quote(str(p))}" for p in procs)
    return ["/bin/sh", "-c", f'{joins} && exec "$@"', "box", *command]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _field(text: str, key: str) -> int:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return 0


class Box:
    """A cgroup with the spec's limits, made on `create()` and removed on `remove()` (a context manager too)."""

    def __init__(self, spec: BoxSpec, name: str | None = None, root: Path = CGROUP_ROOT,
                 proc_cgroup: Path = PROC_CGROUP):
        self.spec = spec
        self.plan = plan_box(spec, name or f"gru_viz_box_{os.getpid()}_{time.monotonic_ns() % 10**6}", root,
                             proc_cgroup)
        self.peak_sampled = 0
        self.created: list[Path] = []  # only these are ever removed

    def create(self) -> Box:
        try:
            for folder in self.plan.folders:
                folder.mkdir()
                self.created.append(folder)
            for path, value in self.plan.writes:
                path.write_text(value)
        except OSError as exc:
            self.remove()
            where = exc.filename or self.plan.folders[0]
            raise BoxError(f"cannot make a cgroup box at {where}: {exc.strerror or exc} (needs root and writable "
                           "cgroups, cgroup v1 or v2)") from None
        return self

    def command(self, command: list[str]) -> list[str]:
        return wrap(command, self.plan.procs)

    @property
    def memory_dir(self) -> Path:
        return self.plan.folders[-1]

    def usage(self) -> int:
        """Bytes charged to the box now (its processes' memory and page cache); also tracks the peak."""
        name = "memory.usage_in_bytes" if self.plan.version == 1 else "memory.current"
        value = int(_read(self.memory_dir / name).strip() or 0)
        self.peak_sampled = max(self.peak_sampled, value)
        return value

    def stats(self) -> dict:
        """Peak and current memory (MB), OOM kills, and how long the CPU quota held the box back (s)."""
        mem, cpu = self.memory_dir, self.plan.folders[0]
        usage = self.usage()
        if self.plan.version == 1:
            peak = int(_read(mem / "memory.max_usage_in_bytes").strip() or 0)
            oom = _field(_read(mem / "memory.oom_control"), "oom_kill")
            throttled = _field(_read(cpu / "cpu.stat"), "throttled_time") / 1e9
        else:
            peak = int(_read(mem / "memory.peak").strip() or 0)  # Linux 5.19+; else the sampled peak
            oom = _field(_read(mem / "memory.events"), "oom_kill")
            throttled = _field(_read(cpu / "cpu.stat"), "throttled_usec") / 1e6
        return {"box": self.spec.label(), "cpus": self.spec.cpus, "memory_limit_mb": round(self.spec.memory / 2**20),
                "cgroup": self.plan.version, "peak_mb": round(max(peak, self.peak_sampled) / 2**20, 1),
                "usage_mb": round(usage / 2**20, 1), "oom_kills": oom, "cpu_throttled_s": round(throttled, 1)}

    def remove(self) -> None:
        """Kill what is left inside (only processes this box's command started), then remove the folders."""
        for procs in self.plan.procs if self.created else []:
            for pid in _read(procs).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError, PermissionError):
                    pass
        while self.created:
            folder = self.created.pop()
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:  # EBUSY: processes still exiting
                        break
                    time.sleep(0.1)

    def __enter__(self) -> Box:
        return self.create()

    def __exit__(self, *exc) -> None:
        self.remove()


def boxes_possible() -> bool:
    """Whether this machine lets us make a box (root and writable cgroups): make a small one and remove it."""
    try:
        Box(BoxSpec(1, 2**30)).create().remove()
        return True
    except (BoxError, OSError):
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--box", required=True, metavar="CPUS,MEMORY", help="for example 1,1g or 0.5,690m")
    p.add_argument("--json", action="store_true", help="print a JSON object as the last line")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    a = p.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        print("box: error: no command (tools/box.py --box 1,1g -- CMD ...)", file=sys.stderr)
        return 2
    try:
        box = Box(parse_box(a.box)).create()
    except (ValueError, BoxError) as exc:
        print(f"box: error: {exc}", file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        proc = subprocess.Popen(box.command(command))
        while proc.poll() is None:
            box.usage()
            time.sleep(0.2)
        stats = {**box.stats(), "exit": proc.returncode, "wall_s": round(time.monotonic() - start, 1)}
    except KeyboardInterrupt:
        return 130
    finally:
        box.remove()
    print(f"box {stats['box']} (cgroup v{stats['cgroup']}): exit {stats['exit']}, peak {stats['peak_mb']:.0f} MB, "
          f"{stats['oom_kills']} OOM kills, CPU quota throttled {stats['cpu_throttled_s']} s, wall {stats['wall_s']} s")
    if a.json:
        print(json.dumps(stats))
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


if __name__ == "__main__":
    sys.exit(main())
