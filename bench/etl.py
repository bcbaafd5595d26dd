"""ETL throughput and memory: `make_dataset` on generated Capfinder-format CSVs of N and 4N rows x 500 samples.

python bench/etl.py [--rows 250000] [--growth 4] [--length 500] [--smoke]
Each size runs `trainlib make-dataset` in its own process; peak RSS is that process's (getrusage of the child).
The default sizes are 250k and 1M rows (about 1 and 4 GB of CSV); the files go to a temporary folder and are deleted.
"""
import argparse, json, os, resource, shutil, subprocess, sys, time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["0", "1", "2", "3"]


def write_csv(path: Path, rows: int, length: int, seed: int = 0, block: int = 5_000):
    "A Capfinder CSV (read_id, cap_class, quoted comma-joined series): noisy class-dependent sine waves, 3 decimals."
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, length)
    levels = np.round(np.arange(-3, 3.0005, 0.001), 3)
    tokens = np.array([f"{v:.3f}" for v in levels], dtype=object)      # formatting by table lookup: ~50x np.char.mod
    with open(path, "w") as f:
        f.write("read_id,cap_class,timeseries\n")
        for start in range(0, rows, block):
            n = min(block, rows - start)
            y = rng.integers(0, len(CLASSES), n)
            x = np.sin(np.outer(y + 1, t)) + rng.normal(0, 0.3, (n, length))
            idx = np.clip(np.rint((x + 3) * 1000).astype(np.int64), 0, len(levels) - 1)
            f.writelines(f'read{start + i:08d},{CLASSES[c]},"{",".join(tokens[r].tolist())}"\n' for i, (c, r) in enumerate(zip(y, idx)))
    return path


CHILD = ("import resource, sys; from trainlib.cli import main; rc = main(sys.argv[1:]); "
         "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")


def run_etl(csv: Path, out: Path, length: int) -> dict:
    "make-dataset in a child process; wall seconds, CPU seconds and the child's peak RSS."
    out.mkdir(parents=True, exist_ok=True); cfg = out/"cfg.json"
    cfg.write_text(json.dumps({"etl": {"data_path": str(csv), "dataset_dir": str(out/"datasets")},
                               "shared": {"target_length": length, "num_classes": None}}))
    t0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CHILD, "make-dataset", "--config", str(cfg)],
                       capture_output=True, text=True, env=os.environ | {"TQDM_DISABLE": "1"})
    wall = time.perf_counter() - t
    if r.returncode: raise RuntimeError(r.stderr[-2000:])
    t1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = int(next(l for l in r.stderr.splitlines() if l.startswith("peak_rss_kb")).split()[1])
    return dict(wall_seconds=round(wall, 2), cpu_seconds=round(t1.ru_utime - t0.ru_utime + t1.ru_stime - t0.ru_stime, 2),
                peak_rss_mib=round(peak / 1024, 1), dataset=r.stdout.splitlines()[0])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=250_000); p.add_argument("--growth", type=int, default=4)
    p.add_argument("--length", type=int, default=500); p.add_argument("--smoke", action="store_true")
    a = p.parse_args(argv)
    if a.smoke: a.rows = 2_000
    tmp = scratch_dir("etl")
    sizes = []
    for rows in (a.rows, a.rows * a.growth):
        csv = tmp/f"signals_{rows}.csv"
        t = time.perf_counter(); write_csv(csv, rows, a.length)
        gen = time.perf_counter() - t
        res = run_etl(csv, tmp/f"out_{rows}", a.length)
        res.update(rows=rows, csv_mib=round(csv.stat().st_size / 2**20, 1), generate_seconds=round(gen, 1),
                   rows_per_second=round(rows / res["wall_seconds"], 1), rows_per_cpu_second=round(rows / res["cpu_seconds"], 1))
        print(json.dumps(res), flush=True)
        sizes.append(res)
        shutil.rmtree(tmp/f"out_{rows}"); csv.unlink()     # free the disk before the 4x file
    small, big = sizes
    write_result("etl" + ("_smoke" if a.smoke else ""), dict(
        series_length=a.length, sizes=sizes, rss_growth_ratio=round(big["peak_rss_mib"] / small["peak_rss_mib"], 3),
        target="peak RSS flat (< 1 GB) as the file grows 4x",
        note="make_dataset runs in one process on one core: rows_per_cpu_second is the per-core rate"))


if __name__ == "__main__": main()
