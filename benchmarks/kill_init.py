"""Kill ``initreg init`` at random moments: the target is whole or unchanged, and no stray file outlives the next run.

    python benchmarks/kill_init.py [--runs 20] [--params 16] [--width 4096] [--signal KILL] [--seed 0] [--dir DIR]

The model is ``--params`` float32 arrays of (width, width): 16 × 4096² is 1 GiB. For each format a
reference run writes the file of seed 1 once (timed). The target starts as the file of seed 0. Each run
then starts ``initreg init --seed 1`` on the target and sends the signal after a random delay, uniform
over 0 to 1.1 times the reference time. So kills land in start-up, drawing, writing, the rename and
after. The script checks the target after each kill: it must be byte for byte the old file or the new
one. Then a small ``initreg init`` into the same directory runs, and afterwards no temporary file may be
left. The target is reset to the old file (a hard link, no copy) before the next run. The formats
alternate between .safetensors and .npz.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time


def digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def init(directory: str, out: str, seed: int, spec: str = "spec.json") -> list[str]:
    return [sys.executable, "-m", "initreg", "init", "--params", spec, "--rules", "rules.toml", "--seed", str(seed),
            "-o", out, "-q"]


def temps(directory: str) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


def main() -> int:
    """Run the kills; print one line per run and a summary; exit 1 when any check failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--params", type=int, default=16)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--signal", default="KILL", help="KILL, TERM or INT")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random kill moments")
    ap.add_argument("--dir", default=None, help="where to write (default: a temporary directory on the disk of /tmp)")
    args = ap.parse_args()
    sig = getattr(signal, "SIG" + args.signal.upper())
    moments = random.Random(args.seed)
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        spec = [{"name": f"layers.{i}.weight", "shape": [args.width, args.width]} for i in range(args.params)]
        with open(os.path.join(d, "spec.json"), "w") as f:
            json.dump(spec, f)
        with open(os.path.join(d, "small.json"), "w") as f:
            json.dump([{"name": "w", "shape": [4]}], f)
        with open(os.path.join(d, "rules.toml"), "w") as f:
            f.write('default = "normal"\n')
        size = args.params * args.width * args.width * 4
        print(f"model: {args.params} x ({args.width}, {args.width}) float32 = {size / 2**30:.2f} GiB; signal "
              f"SIG{args.signal.upper()}; {args.runs} runs; directory {d}")
        refs = {}
        for fmt in (".safetensors", ".npz"):
            old_keep, new_ref = os.path.join(d, f"old{fmt}.keep"), os.path.join(d, f"new{fmt}.keep")
            subprocess.run(init(d, old_keep.replace(".keep", ""), 0), cwd=d, check=True)
            os.replace(old_keep.replace(".keep", ""), old_keep)
            start = time.perf_counter()
            subprocess.run(init(d, new_ref.replace(".keep", ""), 1), cwd=d, check=True)
            took = time.perf_counter() - start
            os.replace(new_ref.replace(".keep", ""), new_ref)
            refs[fmt] = (old_keep, digest(old_keep), digest(new_ref), took)
            os.unlink(new_ref)
            print(f"reference {fmt}: a full run takes {took:.2f} s")
        counts = {"old": 0, "new": 0, "corrupt": 0, "absent": 0}
        strays_after_kill = strays_after_next = failures = finished = 0
        for run in range(args.runs):
            fmt = (".safetensors", ".npz")[run % 2]
            old_keep, old_hash, new_hash, took = refs[fmt]
            target = os.path.join(d, "model" + fmt)
            if not (os.path.exists(target) and os.path.samefile(target, old_keep)):
                link = target + ".link"
                os.link(old_keep, link)
                os.replace(link, target)  # the earlier file, as a hard link of the kept copy
            delay = moments.uniform(0, 1.1 * took)
            proc = subprocess.Popen(init(d, "model" + fmt, 1), cwd=d, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            proc.send_signal(sig)
            _, err = proc.communicate()
            left = temps(d)
            strays_after_kill += bool(left)
            finished += proc.returncode == 0
            if not os.path.exists(target):
                state = "absent"
            else:
                h = digest(target)
                state = "old" if h == old_hash else "new" if h == new_hash else "corrupt"
            counts[state] += 1
            subprocess.run(init(d, "small.npz", 2, "small.json"), cwd=d, check=True)  # the next run
            after = temps(d)
            strays_after_next += bool(after)
            ok = state in ("old", "new") and not after and "Traceback" not in err
            failures += not ok
            print(f"run {run + 1:2d} {fmt:12s} killed after {delay:5.2f} s (exit {proc.returncode:4d}): target {state}, "
                  f"temporary files after the kill {len(left)}, after the next run {len(after)}"
                  + ("" if ok else f"  FAILED {err.strip()[-300:]}"))
        print(f"summary: {args.runs} runs ({args.runs - finished} killed, {finished} finished before the signal); target old {counts['old']}, new {counts['new']}, corrupt {counts['corrupt']}, "
              f"absent {counts['absent']}; runs leaving a temporary file at the kill {strays_after_kill}; "
              f"stray files after the next run {strays_after_next}; failed checks {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
