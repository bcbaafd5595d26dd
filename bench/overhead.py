"""Training overhead: trainlib's `train` (default callbacks, tf.data pipeline, checkpoints) vs a minimal plain-Keras
`model.fit` on NumPy arrays, same model, data, batch size, epochs and seed, alternating in one process.

python bench/overhead.py [--model resnet] [--batch-size 5] [--epochs 30] [--repeats 3] [--smoke]
Variant `trainlib_fast`: trainlib with `train.jit_compile=true` and `train.steps_per_execution` (a CPU speed-up).
Two rates per variant: whole fits (tracing and compilation included, what a short run pays) and the steady state
(median epoch after the first `--warmup` epochs, timed by a callback: what a long run pays per epoch).
"""
import argparse, json, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result, epoch_timer, scratch_dir, steady_seconds

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet"); p.add_argument("--batch-size", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30); p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2, help="epochs left out of the steady-state rate")
    p.add_argument("--steps-per-execution", type=int, default=10); p.add_argument("--smoke", action="store_true")
    a = p.parse_args(argv)
    if a.smoke: a.epochs, a.repeats, a.warmup = 3, 1, 1
    if a.epochs <= a.warmup: p.error(f"--epochs ({a.epochs}) must exceed --warmup ({a.warmup})")
    import keras, numpy as np
    from trainlib.config import load_config
    from trainlib.store import make_dataset, load_arrays
    from trainlib.train import train, compile_model
    tmp = scratch_dir("overhead")
    base = load_config(ROOT/"nbs/reports/gunpoint_demo.yaml").update({
        "shared.model_type": a.model, "shared.output_dir": str(tmp/"runs"), "etl.dataset_dir": str(tmp/"datasets"),
        "train.batch_size": a.batch_size, "train.max_epochs": a.epochs, "train.patience": a.epochs + 1})
    ds = make_dataset(base)
    x, y = load_arrays(ds, "train")
    n = len(y)

    def plain(seed):
        keras.utils.set_random_seed(seed)
        model = compile_model(base, ds)          # same builder, optimizer, loss, metrics
        timer = epoch_timer()
        t = time.perf_counter()
        model.fit(x, y, batch_size=a.batch_size, epochs=a.epochs, verbose=0, shuffle=True, callbacks=[timer])
        return time.perf_counter() - t, steady_seconds(timer.seconds, a.warmup)

    def with_trainlib(seed, fast=False):
        cfg = base.update({"train.seed": seed, "train.run_name": f"r{seed}{'f' if fast else ''}"}
                          | ({"train.jit_compile": True, "train.steps_per_execution": a.steps_per_execution} if fast else {}))
        timer = epoch_timer()
        run = train(cfg, ds, overwrite=True, verbose=0, callbacks=[timer])
        return json.loads(run.file("run.json").read_text())["fit_seconds"], steady_seconds(timer.seconds, a.warmup)

    times = {"plain_keras": [], "trainlib": [], "trainlib_fast": []}
    epoch_s = {k: [] for k in times}
    plain(0)                                      # warm-up: first-use costs (TF init, kernels) out of the comparison
    for r in range(a.repeats):
        for name, fn in (("plain_keras", plain), ("trainlib", with_trainlib), ("trainlib_fast", lambda s: with_trainlib(s, True))):
            fit, epoch = fn(42 + r)
            times[name].append(fit); epoch_s[name].append(epoch)
            print(f"repeat {r} {name}: {fit:.2f} s ({n * a.epochs / fit:.0f} samples/s), steady {n / epoch:.0f} samples/s", flush=True)
    rate = {k: n * a.epochs / statistics.median(v) for k, v in times.items()}
    steady = {k: n / statistics.median(v) for k, v in epoch_s.items()}
    write_result("overhead" + ("_smoke" if a.smoke else ""), dict(
        model=a.model, dataset="GunPoint train (UCR)", n_train=n, batch_size=a.batch_size, epochs=a.epochs, repeats=a.repeats,
        fit_seconds=times, samples_per_second_median={k: round(v, 1) for k, v in rate.items()},
        ratio_trainlib_vs_plain=round(rate["trainlib"] / rate["plain_keras"], 3),
        ratio_trainlib_fast_vs_plain=round(rate["trainlib_fast"] / rate["plain_keras"], 3), target_ratio=0.95,
        steady_epoch_seconds=epoch_s, warmup_epochs=a.warmup, steady_samples_per_second_median={k: round(v, 1) for k, v in steady.items()},
        steady_ratio_trainlib_vs_plain=round(steady["trainlib"] / steady["plain_keras"], 3),
        steady_ratio_trainlib_fast_vs_plain=round(steady["trainlib_fast"] / steady["plain_keras"], 3),
        fast_settings=dict(jit_compile=True, steps_per_execution=a.steps_per_execution),
        note="fit seconds include the first epoch's tracing for every variant; trainlib's include its callbacks "
             "(CSV log, TensorBoard, checkpoints, backups, LR schedule, interrupt handler); steady: median epoch after the warm-up"))


if __name__ == "__main__": main()
