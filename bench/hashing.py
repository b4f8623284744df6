#!/usr/bin/env python3
"""Hashing benchmark: roard's hashing code against b3sum and sha256sum, and the hash
cache on a job whose inputs did not change.

Usage: python3 bench/hashing.py [--runs N] [--size-mib M] [--markdown FILE]

1. A file of M MiB (default 1024) of random bytes, in the page cache (read once first),
   hashed alternately by `b3sum`, `roar-hash` (roard's own function, BLAKE3 only),
   `sha256sum` and `roar-hash --sha256` (BLAKE3 and SHA-256 in one pass, as roard does
   when asked); median wall time of N runs each. Installs b3sum with `cargo install`
   when missing.
2. A job reading 2000 small files, run twice under roarctl with a fresh daemon: the
   bytes hashed by the second run (from `roarctl daemon status`) and the time roard
   spent on the cache look-ups (from its log), per file.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd):
    start = time.perf_counter()
    run(cmd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()

    run(["cargo", "build", "--release", "-q", "-p", "roard", "-p", "roarctl", "-p", "roar-bench"],
        cwd=ROOT)
    if shutil.which("b3sum") is None:
        run(["cargo", "install", "--locked", "b3sum"])
    b3sum = shutil.which("b3sum") or str(Path.home() / ".cargo" / "bin" / "b3sum")
    roar_hash = str(BIN / "roar-hash")
    base = Path(tempfile.mkdtemp(prefix="roar-hash-bench-"))
    lines = []
    try:
        big = base / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
        run(["cat", str(big)], stdout=subprocess.DEVNULL)  # into the page cache
        # Same answers first: the comparison is only fair if all compute the same.
        ours = run([roar_hash, "--sha256", str(big)], capture_output=True, text=True).stdout
        theirs_b3 = run([b3sum, str(big)], capture_output=True, text=True).stdout.split()[0]
        theirs_sha = run(["sha256sum", str(big)], capture_output=True, text=True).stdout.split()[0]
        assert f"blake3 {theirs_b3}" in ours and f"sha256 {theirs_sha}" in ours, ours

        tools = {
            "b3sum": [b3sum, str(big)],
            "roard BLAKE3": [roar_hash, str(big)],
            "sha256sum": ["sha256sum", str(big)],
            "roard BLAKE3 + SHA-256": [roar_hash, "--sha256", str(big)],
        }
        times = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, cmd in tools.items():
                times[name].append(timed(cmd))
        med = {name: statistics.median(ts) for name, ts in times.items()}
        gib = args.size_mib / 1024
        lines += [
            f"Measured {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, a {args.size_mib} MiB "
            f"file in the page cache, median of {args.runs} runs, tools alternating; "
            "command: `python3 bench/hashing.py`.",
            "",
            "| tool | time | throughput |",
            "|---|---|---|",
        ]
        for name, t in med.items():
            lines.append(f"| {name} | {t*1000:.0f} ms | {gib/t:.2f} GiB/s |")
        lines += [
            "",
            f"roard BLAKE3 / b3sum throughput: {med['b3sum']/med['roard BLAKE3']:.2f}; "
            f"roard BLAKE3 + SHA-256 / sha256sum: "
            f"{med['sha256sum']/med['roard BLAKE3 + SHA-256']:.2f}",
        ]

        # The hash cache on unchanged inputs.
        env = dict(os.environ)
        for var in ["XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"]:
            (base / var).mkdir()
            env[var] = str(base / var)
        # The work directory is under the system temp directory, which roar treats as
        # scratch space by default; here it holds the job's data, as a project would.
        (base / "XDG_CONFIG_HOME" / "roar").mkdir()
        (base / "XDG_CONFIG_HOME" / "roar" / "config.toml").write_text("[filters]\ntmp = []\n")
        work = base / "work"
        (work / "in").mkdir(parents=True)
        for i in range(2000):
            (work / "in" / f"f{i}.txt").write_text(f"{i}\n" * 100)
        time.sleep(0.3)  # older than the cache's racy window
        roarctl = str(BIN / "roarctl")
        job = ["sh", "-c", "cat in/* > /dev/null"]

        def status():
            out = run([roarctl, "daemon", "status", "--json"], env=env, capture_output=True,
                      text=True).stdout
            return json.loads(out)

        run([roarctl, "-q", "run", "--"] + job, cwd=work, env=env)
        first = status()
        run([roarctl, "-q", "run", "--"] + job, cwd=work, env=env)
        second = status()
        log = (base / "XDG_STATE_HOME" / "roar" / "roard.log").read_text()
        timings = re.findall(r"(\d+) files from the hash cache, (\d+) hashed \((\d+) bytes\) in (\d+) us", log)
        hits, misses, hashed, micros = map(int, timings[-1])
        run([roarctl, "daemon", "stop"], env=env, stderr=subprocess.DEVNULL)
        lines += [
            "",
            "Hash cache, a job reading 2000 unchanged files a second time "
            "(`cat in/*` under `roarctl run`):",
            "",
            f"- bytes hashed by the first run: {first['hashed_bytes']}; by the second: "
            f"{second['hashed_bytes'] - first['hashed_bytes']}",
            f"- second run: {hits} files from the cache, {misses} hashed; the whole "
            f"look-up took {micros / 1000:.1f} ms, {micros / max(hits, 1):.1f} µs per file "
            "(a stat and a map look-up each)",
        ]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
