#!/usr/bin/env python3
"""Scale benchmark: lineage queries on a large database, through roarctl.

Usage: python3 bench/lineage.py [--runs N] [--markdown FILE]

1. `roar-fill` (bench/src/fill.rs) builds a database with roard's own migrations:
   100k jobs in 200 projects, 1M artifacts, each job reading 3 artifacts and writing
   10, lineage chains 50 jobs deep, 20 system-file rows per job.
2. A release roard serves it; each command below runs N times (default 15) through the
   release roarctl, as a user would type it, and the median wall time is reported:
   `lineage HASH` (50 jobs upstream), `lineage --downstream HASH` (a chain's source),
   `log` (a project's 20 newest jobs), `show JOB`, `show HASH`, `dag` (a 500-job
   session with staleness checks; its files do not exist, so every input is "gone").
   Each figure includes roarctl's own start-up and connection; `roarctl --version`
   is timed too, as the floor.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "roard", "-p", "roarctl",
                    "-p", "roar-bench"], cwd=ROOT, check=True)
    base = Path(tempfile.mkdtemp(prefix="roar-scale-"))
    try:
        env = dict(os.environ)
        for var in ["XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"]:
            (base / var).mkdir()
            env[var] = str(base / var)
        db = base / "XDG_DATA_HOME" / "roar" / "roar.db"
        projects = base / "projects"
        start = time.perf_counter()
        out = subprocess.run([str(BIN / "roar-fill"), str(db), str(projects)],
                             check=True, capture_output=True, text=True).stdout
        fill_seconds = time.perf_counter() - start
        info = json.loads(out)
        project = Path(info["project"])
        project.mkdir(parents=True)
        size = sum(f.stat().st_size for f in db.parent.iterdir() if f.is_file())
        roarctl = str(BIN / "roarctl")
        subprocess.run([roarctl, "daemon", "start"], env=env, check=True,
                       stderr=subprocess.DEVNULL)

        commands = {
            "roarctl --version (floor)": ["--version"],
            "lineage (50 jobs upstream)": ["lineage", info["deep_artifact"][:16]],
            "lineage --downstream (a chain's source)":
                ["lineage", "--downstream", info["source_artifact"][:16]],
            "log (20 newest of a project)": ["log"],
            "show JOB": ["show", info["job"]],
            "show HASH": ["show", info["deep_artifact"][:16]],
            "dag (500-job session)": ["dag"],
        }
        times = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                t = time.perf_counter()
                subprocess.run([roarctl] + cmd, cwd=project, env=env, check=True,
                               stdout=subprocess.DEVNULL)
                times[name].append((time.perf_counter() - t) * 1000)
        subprocess.run([roarctl, "daemon", "stop"], env=env, stderr=subprocess.DEVNULL)
        lines = [
            f"Database: {info['jobs']} jobs, {info['artifacts']} artifacts, "
            f"{size / 2**20:.0f} MiB on disk (filled in {fill_seconds:.0f} s).",
            "",
            f"| command | median ms | min ms | max ms |",
            "|---|---|---|---|",
        ]
        for name, values in times.items():
            lines.append(f"| {name} | {statistics.median(values):.1f} | "
                         f"{min(values):.1f} | {max(values):.1f} |")
    finally:
        subprocess.run([str(BIN / "roarctl"), "daemon", "stop"], env=env,
                       stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
