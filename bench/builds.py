#!/usr/bin/env python3
"""Two builds of roar side by side on one command: is a change faster?

Usage: python3 bench/builds.py OLD_DIR NEW_DIR [--runs N] [--pause S] [--reset CMD] -- COMMAND...

OLD_DIR and NEW_DIR each hold a `roarctl` and a `roard` (copies of target/release from
before and after a change). Each build gets its own daemon, database and XDG
directories; then, N times (after one warm-up round), the command runs natively, under
the old build and under the new one, alternating, and the medians are printed. On a
noisy machine only such side-by-side figures can tell a change of a millisecond.

--pause waits between runs so that what a daemon does after a job (a checkpoint, the
next spare tracer) does not land on the next run, which belongs to the other build.
--reset runs a shell command before every run (to remove a job's outputs, say).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--reset")
    if "--" not in sys.argv:
        parser.error("no command given (put it after --)")
    split = sys.argv.index("--")
    args = parser.parse_args(sys.argv[1:split])
    command = sys.argv[split + 1:]
    if not command:
        parser.error("no command given (put it after --)")
    base = Path(tempfile.mkdtemp(prefix="roar-builds-"))
    builds = {"old": args.old.resolve(), "new": args.new.resolve()}
    envs = {}
    try:
        for name, directory in builds.items():
            env = dict(os.environ)
            for var in ["XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"]:
                (base / name / var).mkdir(parents=True)
                env[var] = str(base / name / var)
            # The work directory may be under the system temp directory, which roar
            # treats as scratch space by default; here it holds the job's data.
            (base / name / "XDG_CONFIG_HOME" / "roar").mkdir()
            (base / name / "XDG_CONFIG_HOME" / "roar" / "config.toml").write_text(
                "[filters]\ntmp = []\n")
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            subprocess.run([str(directory / "roarctl"), "daemon", "start"], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            envs[name] = env
        times = {"native": [], "old": [], "new": []}
        for round_ in range(args.runs + 1):
            for mode in times:
                if args.reset:
                    subprocess.run(args.reset, shell=True, check=True)
                if mode == "native":
                    argv, env = command, envs["old"]
                else:
                    argv = [str(builds[mode] / "roarctl"), "-q", "run", "--"] + command
                    env = envs[mode]
                start = time.perf_counter()
                subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                elapsed = time.perf_counter() - start
                if round_ > 0:
                    times[mode].append(elapsed)
                time.sleep(args.pause)
    finally:
        for name, directory in builds.items():
            if name in envs:
                subprocess.run([str(directory / "roarctl"), "daemon", "stop"],
                               env=envs[name], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    medians = {mode: statistics.median(ts) * 1000 for mode, ts in times.items()}
    print(f"median of {args.runs}, alternating: native {medians['native']:.2f} ms, "
          f"old {medians['old']:.2f} ms, new {medians['new']:.2f} ms "
          f"(new - old: {medians['new'] - medians['old']:+.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
