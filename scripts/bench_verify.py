"""Memory of `edgeprep verify --data` over 1,000 vs 100,000 tabular rows (issue 5).

Each verify runs in a fresh process; its peak RSS (ru_maxrss) and wall time are recorded side by
side in one run. Usage: python scripts/bench_verify.py [--rows 1000 100000] [--out BENCH_DIR]
Prints a Markdown table; the goal is peak(100k) <= 1.5 x peak(1k).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]

CHILD = """
import resource, sys, time
start = time.perf_counter()
from edgeprep.verification import verify
result = verify(sys.argv[1], data=sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{result.passed} {result.samples} {peak} {time.perf_counter() - start:.2f}")
"""


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    block = 50_000
    with open(path, "w") as handle:
        handle.write("age,income_0,income_1,income_2\n")
        for start in range(0, rows, block):
            n = min(block, rows - start)
            data = np.column_stack([rng.uniform(18, 90, n), rng.normal(5e4, 2e4, n), rng.normal(2e3, 1e3, n), rng.normal(10, 5, n)])
            np.savetxt(handle, data, delimiter=",", fmt="%.4f")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--out", default=None, help="work directory (default: a temporary one)")
    parser.add_argument("--markdown", default=str(REPO / "benchmarks" / "4-verify.md"), help="write the section here")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    import edgeprep
    from zoo import tabular_numeric

    work = Path(args.out or tempfile.mkdtemp(prefix="bench-verify-"))
    work.mkdir(parents=True, exist_ok=True)
    model_path = work / "tabular.keras"
    tabular_numeric().save(model_path)
    dist = work / "dist"
    edgeprep.export(str(model_path), dist)
    rows_out = []
    for rows in args.rows:
        csv = work / f"rows_{rows}.csv"
        write_csv(csv, rows)
        line = subprocess.run([sys.executable, "-c", CHILD, str(dist), str(csv)], capture_output=True, text=True, check=True).stdout.split()
        passed, samples, peak_kb, seconds = line[0] == "True", int(line[1]), int(line[2]), float(line[3])
        rows_out.append({"rows": rows, "passed": passed, "samples": samples, "peak_rss_mb": peak_kb / 1024, "seconds": seconds})
    base = rows_out[0]["peak_rss_mb"]
    lines = [
        "## Streaming verification memory (issue 5)",
        "",
        f"`edgeprep verify DIR --data rows.csv` on the tabular zoo model, each run in a fresh process "
        f"(peak RSS = ru_maxrss; most of it is TensorFlow and Keras, loaded to compute the reference), "
        f"measured side by side by `python scripts/bench_verify.py` on {time.strftime('%Y-%m-%d')}. Goal: peak over 100,000 rows "
        "within 1.5x of the peak over 1,000.",
        "",
        "| rows | samples verified | passed | peak RSS (MB) | ratio to first | wall (s) |",
        "|---:|---:|:---:|---:|---:|---:|",
    ]
    for r in rows_out:
        lines.append(f"| {r['rows']:,} | {r['samples']:,} | {'yes' if r['passed'] else 'NO'} | {r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / base:.2f}x | {r['seconds']:.1f} |")
    print("\n".join(lines))
    Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(args.markdown).write_text("\n".join(lines) + "\n")
    (work / "bench_verify.json").write_text(json.dumps(rows_out, indent=2))


if __name__ == "__main__":
    main()
