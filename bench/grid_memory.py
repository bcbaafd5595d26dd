"""Grids: this process's RSS after 2 and after N trainings of `grid_search`, in one process or each in a child.

python bench/grid_memory.py [--trainings 20] [--isolate | --clear-session] [--smoke]

Aptamer-style grids run hundreds of trainings. In one process each FCN fit leaves memory behind in Keras and
TensorFlow; `--clear-session` calls `keras.backend.clear_session()` before each training (the usual advice) to show
whether that gives it back; `--isolate` runs each training in a spawned child (`grid_search(..., isolate="process")`),
where the RSS measured is the grid's own process. Seconds per training are the wall seconds of the trainings after
the second, divided by their number (a child's start-up and TensorFlow import included).
"""
import argparse, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import rss_mib, scratch_dir, write_result

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trainings", type=int, default=20); p.add_argument("--smoke", action="store_true")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--isolate", action="store_true", help="each training in a spawned child process")
    how.add_argument("--clear-session", action="store_true", help="keras.backend.clear_session() before each training (one process)")
    a = p.parse_args(argv)
    n = 4 if a.smoke else a.trainings
    if n < 3: p.error(f"--trainings must be >= 3, got {n}")
    import keras
    import trainlib.tune as tune
    from trainlib.config import TrainConfig
    from trainlib.store import make_dataset
    if a.clear_session:
        plain = tune._grid_train
        def cleared(*args, **kwargs):
            keras.backend.clear_session()
            return plain(*args, **kwargs)
        tune._grid_train = cleared
    tmp = scratch_dir("grid-memory")
    cfg = TrainConfig.from_dict({
        "etl": {"data_path": str(ROOT/"data/gunpoint/train.csv"), "test_path": str(ROOT/"data/gunpoint/test.csv"),
                "dataset_dir": str(tmp/"datasets")},
        "shared": {"num_classes": 2, "target_length": 150, "model_type": "fcn", "output_dir": str(tmp/"runs"), "dtype": "float32"},
        "train": {"batch_size": 16, "max_epochs": 1}})
    ds = make_dataset(cfg)
    isolate = "process" if a.isolate else "none"
    rss, seconds = {}, {}
    for upto in (2, n):           # the second grid reads the first two trainings back and trains the rest
        t = time.perf_counter()
        tune.grid_search(cfg, ds, {"width": [0.5]}, n_random=1, num_replicas=upto, isolate=isolate)
        seconds[upto], rss[upto] = time.perf_counter() - t, rss_mib()
        print(f"after {upto} trainings: RSS {rss[upto]:.0f} MiB", flush=True)
    mode = "isolated" if a.isolate else "clear_session" if a.clear_session else "one_process"
    write_result(f"grid_memory_{mode}" + ("_smoke" if a.smoke else ""), dict(mode=mode, trainings=n,
        rss_mib_after_2=round(rss[2], 1), rss_mib_after_n=round(rss[n], 1), rss_ratio=round(rss[n] / rss[2], 3),
        mib_per_training=round((rss[n] - rss[2]) / (n - 2), 2), seconds_per_training=round(seconds[n] / (n - 2), 2),
        note="FCN on GunPoint, 1 epoch, batch 16; RSS of the grid's own process"))


if __name__ == "__main__": main()
