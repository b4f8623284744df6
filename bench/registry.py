#!/usr/bin/env python3
"""Registry benchmark: publishing a 10k-job DAG to PostgreSQL, and looking it up.

Usage: python3 bench/registry.py [--runs N] [--markdown FILE]

`roar-fill` builds a local database holding one session of 10,000 jobs (chains 50
deep, 3 inputs and 10 outputs each: 100k artifacts); a throw-away PostgreSQL cluster
(initdb in a temp dir, 127.0.0.1, fsync off) is the registry. Timed through the release
roarctl: `register session` into the empty registry, the same registration again (a
no-op by content), then `lineage --registry` of a 50-deep artifact and `show
--registry` by hash prefix (medians of N runs).
"""

import argparse
import glob
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release"


def pg(name):
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1]
    return found


def as_owner(cmd):
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + cmd
    return cmd


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return (time.perf_counter() - t) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "roard", "-p", "roarctl",
                    "-p", "roar-bench"], cwd=ROOT, check=True)
    base = Path(tempfile.mkdtemp(prefix="roar-registry-bench-"))
    base.chmod(0o711)  # the postgres user must reach its directory inside
    server = None
    env = dict(os.environ)
    try:
        for var in ["XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"]:
            (base / var).mkdir()
            env[var] = str(base / var)
        db = base / "XDG_DATA_HOME" / "roar" / "roar.db"
        out = subprocess.run([str(BIN / "roar-fill"), str(db), str(base / "projects"), "1", "10000"],
                             check=True, capture_output=True, text=True).stdout
        info = json.loads(out)
        project = Path(info["project"])
        project.mkdir(parents=True)
        pgdir = base / "pg"
        pgdir.mkdir()
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:postgres", str(pgdir)], check=True)
        subprocess.run(as_owner([pg("initdb"), "-D", str(pgdir / "data"), "-U", "roar",
                                 "--auth=trust", "--no-sync"]), check=True,
                       stdout=subprocess.DEVNULL)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(as_owner([pg("postgres"), "-D", str(pgdir / "data"), "-h",
                                            "127.0.0.1", "-p", str(port), "-k", str(pgdir),
                                            "-c", "fsync=off"]),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if subprocess.run([pg("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"]).returncode == 0:
                break
            time.sleep(0.05)
        env["ROAR_REGISTRY_URL"] = f"postgres://roar@127.0.0.1:{port}/postgres"
        roarctl = str(BIN / "roarctl")
        subprocess.run([roarctl, "daemon", "start"], env=env, check=True, stderr=subprocess.DEVNULL)
        first = timed([roarctl, "register", "session", "-y"], cwd=project, env=env)
        again = timed([roarctl, "register", "session", "-y"], cwd=project, env=env)
        hash16 = info["deep_artifact"][:16]
        lookups = {"lineage --registry (50 jobs upstream)": ["lineage", "--registry", hash16],
                   "show --registry HASH": ["show", "--registry", hash16]}
        times = {name: [] for name in lookups}
        for _ in range(args.runs):
            for name, cmd in lookups.items():
                times[name].append(timed([roarctl] + cmd, cwd=project, env=env))
        subprocess.run([roarctl, "daemon", "stop"], env=env, stderr=subprocess.DEVNULL)
        lines = [
            f"Local database: {info['jobs']} jobs, {info['artifacts']} artifacts in one session.",
            "",
            "| command | ms |",
            "|---|---|",
            f"| register session (10k jobs, empty registry) | {first:.0f} |",
            f"| register session again (nothing new) | {again:.0f} |",
        ]
        for name, values in times.items():
            lines.append(f"| {name}, median of {args.runs} | {statistics.median(values):.1f} |")
    finally:
        if server:
            server.send_signal(2)
            server.wait()
        subprocess.run([str(BIN / "roarctl"), "daemon", "stop"], env=env,
                       stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
