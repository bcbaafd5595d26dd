"""Tuning: RSS growth across trials (after 2 vs after N trials, one process) and seconds per trial beyond its fit.

python bench/tune_memory.py [--trials 20] [--smoke] [--isolate]

--isolate: each trial in a spawned child process (`tune(..., isolate="process")`); the RSS is the parent's, and
"fit" is the child's `_fit_trial` (dataset pipelines, build, fit, checkpoint), so the overhead is the child's start-up
(interpreter, TensorFlow import) plus the hand-over.
"""
import argparse, json, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import rss_mib, scratch_dir, write_result

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20); p.add_argument("--smoke", action="store_true")
    p.add_argument("--isolate", action="store_true", help="each trial in a spawned child process")
    a = p.parse_args(argv)
    n = 4 if a.smoke else a.trials
    import keras
    from trainlib.config import TrainConfig
    from trainlib.store import make_dataset
    from trainlib.tune import make_tuner, _datasets
    tmp = scratch_dir("tune-memory")
    cfg = TrainConfig.from_dict({
        "etl": {"data_path": str(ROOT/"data/gunpoint/train.csv"), "test_path": str(ROOT/"data/gunpoint/test.csv"),
                "dataset_dir": str(tmp/"datasets")},
        "shared": {"num_classes": 2, "target_length": 150, "model_type": "fcn", "output_dir": str(tmp/"runs"), "dtype": "float32"},
        "train": {"batch_size": 16}, "tune": {"strategy": "random_search", "max_trials": 2, "max_epochs": 1}})
    ds = make_dataset(cfg)
    fit_seconds = {}
    class FitTime(keras.callbacks.Callback):
        def __deepcopy__(self, memo): return self
        def on_train_begin(self, logs=None): self.t = time.perf_counter()
        def on_train_end(self, logs=None): fit_seconds[len(fit_seconds)] = time.perf_counter() - self.t
    rss = {}
    for upto in (2, n):
        c = cfg.update({"tune.max_trials": upto})
        tuner = make_tuner(c, ds, isolate="process" if a.isolate else "none")
        train_ds, val_ds = _datasets(c, ds, for_tuning=True)
        tuner.search(train_ds, validation_data=val_ds, epochs=1, callbacks=[FitTime()], verbose=0)
        rss[upto] = rss_mib()
        print(f"after {upto} trials: RSS {rss[upto]:.0f} MiB", flush=True)
    times = {}
    for f in Path(tuner.project_dir).glob("trial_seconds-*.json"): times |= json.loads(f.read_text())
    trial_s = [v["seconds"] for _, v in sorted(times.items())]
    if a.isolate:         # the child times its own fit; FitTime never runs in this process
        fit_seconds = {i: json.loads((Path(tuner.project_dir)/f"trial_{tid}"/"isolated_result.json").read_text())["seconds"]
                       for i, tid in enumerate(sorted(times))}
    fits = [fit_seconds[i] for i in sorted(fit_seconds)]
    overhead = [t - f for t, f in zip(trial_s, fits)]
    write_result("tune_memory" + ("_isolated" if a.isolate else "") + ("_smoke" if a.smoke else ""), dict(isolate=a.isolate,
        trials=n, rss_mib_after_2=round(rss[2], 1), rss_mib_after_n=round(rss[n], 1), rss_ratio=round(rss[n] / rss[2], 3),
        target_ratio=1.5, trial_seconds_median=round(sorted(trial_s)[len(trial_s)//2], 3),
        fit_seconds_median=round(sorted(fits)[len(fits)//2], 3),
        overhead_seconds_per_trial_median=round(sorted(overhead)[len(overhead)//2], 3),
        note="trial seconds are keras-tuner's on_trial_begin..on_trial_end (build, fit, checkpoint, oracle update); fit seconds are "
             + ("the child's _fit_trial (pipelines, build, fit, checkpoint); the rest is the child's start-up" if a.isolate else "model.fit alone")))


if __name__ == "__main__": main()
