"""Keras backends: the same trainlib training (`train`, same config, data, seed) under KERAS_BACKEND=tensorflow and jax,
each run in its own subprocess (the backend is fixed at import), the backends alternating.

python bench/backends.py [--model resnet] [--batch-size 5] [--epochs 30] [--repeats 3] [--smoke]
Reports samples/s over the whole fit (first-epoch tracing/compilation included) and in the steady state
(median epoch after the first), and the ratio jax / tensorflow of each.
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result, epoch_timer, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("tensorflow", "jax")


def child(a):
    "One training in this process (its backend set by the parent); print fit seconds and epoch seconds as JSON."
    import keras
    from trainlib.config import load_config
    from trainlib.store import make_dataset
    from trainlib.train import train

    cfg = load_config(ROOT/"nbs/reports/gunpoint_demo.yaml").update({
        "shared.model_type": a.model, "shared.output_dir": str(Path(a.workdir)/"runs"), "etl.dataset_dir": str(Path(a.workdir)/"datasets"),
        "train.batch_size": a.batch_size, "train.max_epochs": a.epochs, "train.patience": a.epochs + 1, "train.seed": a.seed,
        "train.run_name": f"{keras.backend.backend()}-{a.seed}"})
    ds = make_dataset(cfg)
    timer = epoch_timer()
    run = train(cfg, ds, callbacks=[timer], overwrite=True, verbose=0)
    print("RESULT " + json.dumps(dict(backend=keras.backend.backend(), n_train=ds.count("train"),
                                      fit_seconds=json.loads(run.file("run.json").read_text())["fit_seconds"], epoch_seconds=timer.seconds)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet"); p.add_argument("--batch-size", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30); p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS); p.add_argument("--workdir", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child: return child(a)
    if a.smoke: a.epochs, a.repeats = 2, 1
    workdir = str(scratch_dir("backends"))
    load_before = os.getloadavg()[0]
    results = {b: [] for b in BACKENDS}
    for r in range(a.repeats):
        for backend in (BACKENDS if r % 2 == 0 else BACKENDS[::-1]):      # alternate which backend goes first
            cmd = [sys.executable, __file__, "--child", "--model", a.model, "--batch-size", str(a.batch_size),
                   "--epochs", str(a.epochs), "--seed", str(42 + r), "--workdir", workdir]
            out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"})
            line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
            if out.returncode or line is None: sys.exit(f"{backend} run failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
            res = json.loads(line[len("RESULT "):])
            assert res["backend"] == backend, res
            results[backend].append(res)
            print(f"repeat {r} {backend}: fit {res['fit_seconds']:.2f} s, steady epoch {statistics.median(res['epoch_seconds'][1:] or res['epoch_seconds']):.3f} s", flush=True)
    n = results[BACKENDS[0]][0]["n_train"]
    total = {b: round(n * a.epochs / statistics.median(r["fit_seconds"] for r in rs), 1) for b, rs in results.items()}
    steady = {b: round(n / statistics.median(s for r in rs for s in (r["epoch_seconds"][1:] or r["epoch_seconds"])), 1) for b, rs in results.items()}
    faster = max(BACKENDS, key=lambda b: steady[b])
    first = {b: round(statistics.median(r["epoch_seconds"][0] for r in rs), 2) for b, rs in results.items()}
    write_result("backends" + ("_smoke" if a.smoke else ""), dict(
        model=a.model, dataset="GunPoint train (UCR)", n_train=n, batch_size=a.batch_size, epochs=a.epochs, repeats=a.repeats,
        fit_seconds={b: [r["fit_seconds"] for r in rs] for b, rs in results.items()},
        epoch_seconds={b: [r["epoch_seconds"] for r in rs] for b, rs in results.items()},
        samples_per_second_fit_median=total, samples_per_second_steady_median=steady,
        ratio_jax_vs_tensorflow_fit=round(total["jax"] / total["tensorflow"], 3),
        ratio_jax_vs_tensorflow_steady=round(steady["jax"] / steady["tensorflow"], 3),
        first_epoch_seconds_median=first, faster_steady=faster,
        load_before_runs=load_before, load_after_runs=os.getloadavg()[0],
        note="each run is a fresh subprocess with KERAS_BACKEND set; trainlib.train with its default callbacks and tf.data input; "
             "fit includes the first epoch's tracing/compilation, steady is the median of the later epochs; the machine is shared, "
             "see load_before_runs/load_after_runs (machine.load_at_start is taken when the result is written)"))


if __name__ == "__main__": main()
