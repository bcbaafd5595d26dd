"""Does tf.data's autotuning stall the end of `fit` in each of trainlib's input pipelines? A diagnostic, printed only.

python bench/pipeline_teardown.py [--runs 3] [--epochs 300] [--pipelines store feedforward images] [--off-first] [--name pipeline_teardown]
For each pipeline (the store's signal batches, the feed-forward trainer's arrays, the image trainer's batches), it trains
a tiny model on GunPoint's training series `--runs` times with tf.data's autotuning on and `--runs` times with it off,
alternating (on first, or off first with `--off-first`: successive fits in one process drift, so compare both orders),
and prints one JSON line per fit: the seconds of the epochs and the seconds between the last callback's
`on_train_end` and `fit`'s return (the teardown of the training iterator, where bench/README.md found a stall of 14-40 s
in about a third of the recipe's fits). The model is tiny so that the input pipeline, not the compute, fills the fit.
Writes bench/results/<name>.json with every fit; a diagnostic, so bench/table.py does not tabulate it.
"""
import argparse, json, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import DATASETS, ROOT
from common import scratch_dir, write_result


def pipelines(tmp:Path, batch:int):
    "name -> (make(): training tf.data.Dataset, input shape, steps per epoch or None (one pass per epoch)) for GunPoint's training file."
    from trainlib.config import TrainConfig
    from trainlib.store import load_arrays, make_dataset, to_tf_dataset
    gp = ROOT/"data"/DATASETS["gunpoint"]["folder"]
    cfg = TrainConfig.from_dict({"etl": {"data_path": str(gp/"train.csv"), "dataset_dir": str(tmp/"datasets")},
                                 "shared": {"num_classes": 2, "target_length": 150, "train_val_fraction": 1.0, "output_dir": str(tmp/"runs")}})
    ds = make_dataset(cfg)
    x, y = load_arrays(ds, "train")
    steps = -(-len(x) // batch)
    def store(): return to_tf_dataset(ds, "train", batch_size=batch, shuffle=True, start_epoch=0)
    def feedforward():
        from trainlib.feedforward_train import _tf_data
        return _tf_data(x[..., 0], y, batch, shuffle_seed=0)
    def images():
        from trainlib.images_train import _pipeline
        img = x[:, :144, 0].reshape(len(x), 12, 12, 1).repeat(3, axis=-1)       # the series as 12x12 RGB images
        return _pipeline(img, keras_one_hot(y), batch, train=True, seed=0)
    return {"store": (store, (150, 1), steps), "feedforward": (feedforward, (150,), steps), "images": (images, (12, 12, 3), None)}


def keras_one_hot(y):
    import numpy as np
    return np.eye(2, dtype="float32")[y]


def with_autotune(ds, on:bool):
    "`ds` with tf.data's autotuning set to `on`, whatever the pipeline set."
    import tensorflow as tf
    o = tf.data.Options(); o.autotune.enabled = on
    return ds.with_options(o)


def one_fit(make, shape, steps, epochs:int, autotune:bool) -> dict:
    import keras
    marks = {}
    class Last(keras.callbacks.Callback):
        def on_train_begin(self, logs=None): marks["begin"] = time.perf_counter()
        def on_train_end(self, logs=None): marks["end"] = time.perf_counter()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy" if len(shape) == 3 else "sparse_categorical_crossentropy")
    ds = with_autotune(make(), autotune)
    assert ds.options().autotune.enabled is autotune
    start = time.perf_counter()
    model.fit(ds, epochs=epochs, steps_per_epoch=steps, callbacks=[Last()], verbose=0)
    stop = time.perf_counter()
    return dict(autotune=autotune, fit=round(stop - start, 2), epochs=round(marks["end"] - marks["begin"], 2), after_end=round(stop - marks["end"], 2))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3); p.add_argument("--epochs", type=int, default=300); p.add_argument("--batch", type=int, default=5)
    p.add_argument("--pipelines", nargs="+", default=["store", "feedforward", "images"], choices=["store", "feedforward", "images"])
    p.add_argument("--off-first", action="store_true", help="each pair of fits with autotuning off first")
    p.add_argument("--name", default="pipeline_teardown")
    a = p.parse_args(argv)
    made, fits = pipelines(scratch_dir("pipeline_teardown"), a.batch), []
    for name in a.pipelines:
        make, shape, steps = made[name]
        for i in range(a.runs):
            for on in ((False, True) if a.off_first else (True, False)):
                fits.append(dict(pipeline=name, run=i, **one_fit(make, shape, steps, a.epochs, on)))
                print(json.dumps(fits[-1]), flush=True)
    stalls = {f"{n} autotune {'on' if on else 'off'}": sum(f["after_end"] >= 0.5 for f in fits if f["pipeline"] == n and f["autotune"] is on)
              for n in a.pipelines for on in (True, False)}
    write_result(a.name, dict(epochs=a.epochs, batch=a.batch, runs=a.runs, off_first=a.off_first, fits_with_a_stall_over_half_a_second=stalls, fits=fits))


if __name__ == "__main__": main()
