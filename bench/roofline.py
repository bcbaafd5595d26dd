"""Distance to the hardware limit: this machine's dense float32 matmul rate vs each model's training FLOP rate.

python bench/roofline.py [--models resnet fcn] [--batch-sizes 5 50] [--epochs 20] [--matmul 3072] [--smoke]
Training FLOP rate = forward FLOPs per sample (from the layer shapes) x 3 (forward + backward) x samples/s,
measured for a plain `model.fit` on NumPy arrays and for trainlib's `train` (default and jit + steps_per_execution),
on GunPoint's 50 training series, in the same process as the matmul measurement. Two rates per variant: the whole fit
(tracing and XLA compilation included, as a user waits for it) and the steady state (median epoch time after the
first `--warmup` epochs, timed by a callback), which is the distance to the hardware limit proper.
Where the rest goes: `per_step_ms` (steady epoch time / steps) at the small and the large batch separates the fixed
cost of a step (framework dispatch, optimizer update, callbacks, input pipeline) from the compute, which at the large
batch is mostly the small 1-D convolutions' own efficiency.
"""
import argparse, json, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result, epoch_timer, scratch_dir, steady_seconds

ROOT = Path(__file__).resolve().parent.parent


def matmul_gflops(n: int, repeats: int = 10) -> float:
    "Best-of-`repeats` float32 GFLOP/s of `tf.matmul` on two n x n matrices (2 n^3 FLOPs each)."
    import tensorflow as tf
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    mm = tf.function(lambda a, b: tf.matmul(a, b))
    mm(a, b).numpy()                                   # trace + warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter(); mm(a, b).numpy(); best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def forward_flops(model) -> int:
    "Multiply-adds x 2 of the Conv1D/Conv2D/Dense layers per sample (BatchNorm, activations, pooling: < 1 %, left out)."
    import keras
    total = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D)):
            k = layer.kernel.shape                       # (*kernel, in, out)
            out_positions = 1
            for d in layer.output.shape[1:-1]: out_positions *= d
            macs = out_positions * k[-1]
            for d in k[:-1]: macs *= d
            total += 2 * macs
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["resnet", "fcn"]); p.add_argument("--batch-sizes", nargs="+", type=int, default=[5, 50])
    p.add_argument("--epochs", type=int, default=20); p.add_argument("--warmup", type=int, default=2); p.add_argument("--matmul", type=int, default=3072)
    p.add_argument("--steps-per-execution", type=int, default=10); p.add_argument("--smoke", action="store_true")
    a = p.parse_args(argv)
    if a.smoke: a.models, a.batch_sizes, a.epochs, a.matmul, a.warmup = ["fcn"], [25], 3, 512, 1
    if a.epochs <= a.warmup: p.error(f"--epochs ({a.epochs}) must exceed --warmup ({a.warmup}) to leave steady epochs to time")
    import keras
    from trainlib.config import load_config
    from trainlib.store import make_dataset, load_arrays
    from trainlib.train import train, compile_model
    peak = matmul_gflops(a.matmul)
    print(f"matmul {a.matmul}x{a.matmul} float32: {peak:.1f} GFLOP/s", flush=True)
    tmp = scratch_dir("roofline")
    results = []
    for model_type in a.models:
        for bs in a.batch_sizes:
            base = load_config(ROOT/"nbs/reports/gunpoint_demo.yaml").update({
                "shared.model_type": model_type, "shared.output_dir": str(tmp/"runs"), "etl.dataset_dir": str(tmp/"datasets"),
                "train.batch_size": bs, "train.max_epochs": a.epochs, "train.patience": a.epochs + 1, "train.model_hp": {}})
            ds = make_dataset(base)
            x, y = load_arrays(ds, "train")
            model = compile_model(base, ds)
            flops = forward_flops(model)
            timer = epoch_timer()
            t = time.perf_counter(); model.fit(x, y, batch_size=bs, epochs=a.epochs, verbose=0, callbacks=[timer]); plain = time.perf_counter() - t
            rates, steady = {"plain_keras": len(y) * a.epochs / plain}, {"plain_keras": len(y) / steady_seconds(timer.seconds, a.warmup)}
            for name, extra in (("trainlib", {}), ("trainlib_fast", {"train.jit_compile": True, "train.steps_per_execution": a.steps_per_execution})):
                timer = epoch_timer()
                run = train(base.update({"train.run_name": f"{model_type}-{bs}-{name}", **extra}), ds, overwrite=True, verbose=0, callbacks=[timer])
                rates[name] = len(y) * a.epochs / json.loads(run.file("run.json").read_text())["fit_seconds"]
                steady[name] = len(y) / steady_seconds(timer.seconds, a.warmup)
            steps = -(-len(y) // bs)
            frac = lambda r: {k: round(3 * flops * v / 1e9 / peak, 4) for k, v in r.items()}
            row = dict(model=model_type, batch_size=bs, steps_per_epoch=steps, forward_mflops_per_sample=round(flops / 1e6, 2),
                       samples_per_second={k: round(v, 1) for k, v in rates.items()}, fraction_of_matmul=frac(rates),
                       steady_samples_per_second={k: round(v, 1) for k, v in steady.items()},
                       steady_training_gflops={k: round(3 * flops * v / 1e9, 2) for k, v in steady.items()},
                       steady_fraction_of_matmul=frac(steady),
                       steady_per_step_ms={k: round(1000 * len(y) / v / steps, 1) for k, v in steady.items()})
            print(json.dumps(row), flush=True)
            results.append(row)
    write_result("roofline" + ("_smoke" if a.smoke else ""), dict(
        matmul_size=a.matmul, matmul_gflops=round(peak, 1), epochs=a.epochs, warmup_epochs=a.warmup, dataset="GunPoint train (UCR), 50 series x 150",
        note=("samples_per_second / fraction_of_matmul: whole fits of a fresh model (tracing and compilation included); "
              "steady_*: median epoch after the warm-up epochs; trainlib's include its callbacks and tf.data pipeline"),
        results=results))


if __name__ == "__main__": main()
