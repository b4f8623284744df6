#!/usr/bin/env python3
"""Tracer overhead benchmark: native vs `roarctl run` vs `strace -f --seccomp-bpf`.

Usage: python3 bench/tracer.py [--runs N] [--markdown FILE]

Builds release binaries, prepares each workload in a temporary directory, starts
roard before any timing, then for each workload runs the modes alternately N times
(after one warm-up round) and reports the median wall time and the ratio to native:

  native        the command alone
  roar          `roarctl run`, daemon running, hash cache warm (inputs seen before),
                fast path on (the default)
  roar-slow     `roarctl run --no-fast-path`: every traced call stops under ptrace
  roar-cold     `roarctl run`, daemon running, hash cache empty (a fresh database and
                daemon are set up before each timed run, outside the timing)
  strace        `strace -f --seccomp-bpf -qq -e trace=%file,%process -o FILE`
  floor         `bench/stop_floor.c`: the same seccomp filter and ptrace options as
                roard, reading each stop's registers and path and nothing more: what
                the stop mechanism itself costs on this machine, whoever the tracer

Every run starts from the same prepared state (outputs are removed between runs), and
from a settled daemon: roard writes a job's file rows into their indexes just after
the job's record (see ARCHITECTURE, "written behind"), and a read (`roarctl log -n 1`,
untimed) waits for that, so one mode's run never pays for the previous one's rows. The
"back to back" line measures what the rows cost when jobs follow each other at once.
Needs strace, make, gcc, tar and python3. A workload's "floor overhead / roar overhead"
is the share of roar's overhead that the mechanism alone costs: near 1, what is left is
the stops themselves.
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def prepare(base: Path):
    """Creates the workloads; returns {name: (command, cwd, reset)}."""
    work = {}

    py_dir = base / "python"
    (py_dir / "in").mkdir(parents=True)
    for i in range(2000):
        (py_dir / "in" / f"f{i}.txt").write_text(f"{i}\n" * 20)
    (py_dir / "job.py").write_text(
        "import os\n"
        "os.makedirs('out', exist_ok=True)\n"
        "total = 0\n"
        "for i in range(2000):\n"
        "    with open(f'in/f{i}.txt') as f: total += len(f.read())\n"
        "for i in range(200):\n"
        "    with open(f'out/o{i}.txt', 'w') as f: f.write(str(total + i))\n"
    )
    python = sys.executable
    work["python: read 2000 files, write 200"] = (
        [python, "job.py"], py_dir, lambda: shutil.rmtree(py_dir / "out", ignore_errors=True))

    work["sh: 500 x fork+exec /bin/true"] = (
        ["sh", "-c", "i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done"],
        base, lambda: None)

    c_dir = base / "make"
    c_dir.mkdir()
    for i in range(60):
        (c_dir / f"u{i}.c").write_text(
            f"int f{i}(int x) {{ int s = 0; for (int k = 0; k < x; k++) s += k * {i}; return s; }}\n")
    (c_dir / "Makefile").write_text(
        "SRC := $(wildcard u*.c)\nOBJ := $(SRC:.c=.o)\n"
        "all: $(OBJ)\n%.o: %.c\n\tgcc -O1 -c $< -o $@\n")
    work["make -j2: 60 small C files"] = (
        ["make", "-s", "-j2"], c_dir, lambda: [p.unlink() for p in c_dir.glob("*.o")])

    big = base / "big.bin"
    with open(big, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(512):
            f.write(chunk)
    work["cat 512 MiB to /dev/null"] = (
        ["sh", "-c", f"cat {big} > /dev/null"], base, lambda: None)

    tar_src = base / "tarsrc"
    tar_src.mkdir()
    for i in range(2000):
        (tar_src / f"t{i}.txt").write_text(f"{i}\n" * 10)
    tarball = base / "files.tar"
    sh(["tar", "-cf", str(tarball), "-C", str(tar_src), "."])
    untar = base / "untar"
    untar.mkdir()
    work["untar 2000 files"] = (
        ["tar", "-xf", str(tarball)], untar,
        lambda: (shutil.rmtree(untar), untar.mkdir()))
    return work


def timed(cmd, cwd, env):
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def back_to_back(workloads, modes, env, settle, jobs=5, rounds=3):
    """The python workload run `jobs` times in a row, nothing in between, per mode:
    what each job's record costs when the next job starts at once (median total)."""
    python = [w for n, w in workloads.items() if n.startswith("python")]
    if not python or "roar" not in modes:
        return
    cmd, cwd, reset = python[0]
    totals = {mode: [] for mode in ("native", "roar", "roar-slow") if mode in modes}
    for _ in range(rounds):
        for mode in totals:
            settle()
            elapsed = 0.0
            for _ in range(jobs):
                reset()
                elapsed += timed(modes[mode](cmd), cwd, env)
            totals[mode].append(elapsed)
    medians = {mode: statistics.median(ts) for mode, ts in totals.items()}
    print(f"python, {jobs} back to back: " + ", ".join(
        f"{m} {t*1000:.0f} ms ({t/medians['native']:.2f}x)" for m, t in medians.items()),
        flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--modes", help="comma-separated subset of the modes (native is always run)")
    parser.add_argument("--only", help="run only the workloads whose name contains this")
    args = parser.parse_args()

    sh(["cargo", "build", "--release", "-q", "-p", "roard", "-p", "roarctl"], cwd=ROOT)
    base = Path(tempfile.mkdtemp(prefix="roar-bench-"))
    try:
        env = dict(os.environ)
        for var in ["XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"]:
            (base / var).mkdir()
            env[var] = str(base / var)
        # The work directory is under the system temp directory, which roar treats as
        # scratch space by default; here it holds the job's data, as a project would.
        (base / "XDG_CONFIG_HOME" / "roar").mkdir()
        (base / "XDG_CONFIG_HOME" / "roar" / "config.toml").write_text("[filters]\ntmp = []\n")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        roarctl = str(BIN / "roarctl")
        floor = str(base / "stop_floor")
        sh(["gcc", "-O2", "-o", floor, str(ROOT / "bench" / "stop_floor.c")])
        sh([roarctl, "daemon", "start"], env=env, stderr=subprocess.DEVNULL)
        strace_log = base / "strace.out"
        workloads = prepare(base)
        def fresh_daemon():
            """An empty database (so an empty hash cache) behind a running daemon."""
            subprocess.run([roarctl, "daemon", "stop"], env=env, stderr=subprocess.DEVNULL)
            shutil.rmtree(base / "XDG_DATA_HOME" / "roar", ignore_errors=True)
            sh([roarctl, "daemon", "start"], env=env, stderr=subprocess.DEVNULL)

        modes = {
            "native": lambda cmd: cmd,
            "roar": lambda cmd: [roarctl, "-q", "run", "--"] + cmd,
            "roar-slow": lambda cmd: [roarctl, "-q", "run", "--no-fast-path", "--"] + cmd,
            "roar-cold": lambda cmd: [roarctl, "-q", "run", "--"] + cmd,
            "strace": lambda cmd: ["strace", "-f", "--seccomp-bpf", "-qq", "-e",
                                   "trace=%file,%process", "-o", str(strace_log)] + cmd,
            "floor": lambda cmd: [floor] + cmd,
        }
        if args.modes:
            wanted = {"native", *args.modes.split(",")}
            modes = {m: f for m, f in modes.items() if m in wanted}
        if args.only:
            workloads = {n: w for n, w in workloads.items() if args.only in n}
        # The fixed cost of a recorded job: the smallest command, many times.
        fixed = {m: [] for m in ("native", "roar", "roar-slow", "floor") if m in modes}
        for round_ in range(31):
            for mode in fixed:
                elapsed = timed(modes[mode](["/bin/true"]), base, env)
                if round_ > 0:
                    fixed[mode].append(elapsed)
        fixed = {mode: statistics.median(ts) for mode, ts in fixed.items()}
        print("/bin/true: " + ", ".join(f"{m} {t*1000:.2f} ms" for m, t in fixed.items()),
              flush=True)
        def settle():
            """Waits until roard has written out the last job's rows (untimed)."""
            sh([roarctl, "-q", "log", "-n", "1"], env=env, cwd=base,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        results = {}
        for name, (cmd, cwd, reset) in workloads.items():
            times = {mode: [] for mode in modes}
            for round_ in range(args.runs + 1):
                for mode, wrap in modes.items():
                    reset()
                    if mode == "roar-cold":
                        fresh_daemon()
                    settle()
                    elapsed = timed(wrap(cmd), cwd, env)
                    if round_ > 0:  # round 0 warms caches
                        times[mode].append(elapsed)
            medians = {mode: statistics.median(ts) for mode, ts in times.items()}
            results[name] = medians
            print(f"{name}: " + ", ".join(
                f"{m} {medians[m]*1000:.1f} ms ({medians[m]/medians['native']:.2f}x)"
                for m in modes), flush=True)
        back_to_back(workloads, modes, env, settle)
        sh([roarctl, "daemon", "stop"], env=env, stderr=subprocess.DEVNULL)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    shown = [m for m in modes if m != "native"]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.node()} "
        f"({os.cpu_count()} cores, {platform.release()}), median of {args.runs} runs "
        f"per mode, modes alternating; command: `python3 bench/tracer.py`"
        + (f" `--modes {args.modes}`" if args.modes else "") + ".",
        "",
        "| workload | native | " + " | ".join(f"{m} (ratio)" for m in shown) + " |",
        "|---|---|" + "---|" * len(shown),
    ]
    ratios = {m: [] for m in shown}
    for name, m in results.items():
        cells = []
        for mode in shown:
            ratio = m[mode] / m["native"]
            ratios[mode].append(ratio)
            cells.append(f"{m[mode]*1000:.1f} ms ({ratio:.2f})")
        lines.append(f"| {name} | {m['native']*1000:.1f} ms | " + " | ".join(cells) + " |")
    lines += ["", "Geometric mean of the ratios: " + ", ".join(
        f"{mode} {statistics.geometric_mean(r):.2f}" for mode, r in ratios.items() if r)]
    lines += ["", "Fixed cost of a recorded job (`/bin/true`, median of 30, alternating): "
              + ", ".join(f"{mode} {t*1000:.2f} ms" for mode, t in fixed.items()) + "."]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
