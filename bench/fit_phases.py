"""Where the seconds of one recipe fit go: before the callbacks' on_train_begin, the epochs, their on_train_end, and after it.

python bench/fit_phases.py [--runs 6] [--autotune] [--set italypowerdemand] [--model fcn]
Trains the shipped recipe (seed 0) `--runs` times in one process and prints one JSON line per run. trainlib's pipeline
runs with tf.data's autotuning off (since e7eada8); `--autotune` turns it back on, as it was when bench/README.md's "Why
single fits vary" found the stall. Prints only: a diagnostic, not a results file.
"""
import argparse, json, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy
from common import scratch_dir


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=6); p.add_argument("--autotune", action="store_true", help="tf.data autotuning on, as before e7eada8")
    p.add_argument("--set", default="italypowerdemand", choices=list(accuracy.DATASETS)); p.add_argument("--model", default="fcn", choices=["fcn", "resnet"])
    a = p.parse_args(argv)
    import keras
    import trainlib.store as S, trainlib.train as T
    if a.autotune:                                   # to_tf_dataset looks finish_pipeline up when called
        import tensorflow as tf
        S.finish_pipeline = lambda ds, prefetch=None: ds.prefetch(tf.data.AUTOTUNE if prefetch is None else prefetch)
    marks = {}
    class Last(keras.callbacks.Callback):
        def on_train_begin(self, logs=None): marks["begin"] = time.perf_counter()
        def on_epoch_end(self, epoch, logs=None): marks["last_epoch_end"] = time.perf_counter()
        def on_train_end(self, logs=None): marks["end"] = time.perf_counter()
    class First(keras.callbacks.Callback):
        def on_train_begin(self, logs=None): marks["first_begin"] = time.perf_counter()
    fit = keras.Model.fit
    def timed_fit(self, *args, callbacks=None, **kw):
        marks["fit_start"] = time.perf_counter()
        try: return fit(self, *args, callbacks=[First()] + list(callbacks) + [Last()], **kw)
        finally: marks["fit_return"] = time.perf_counter()
    keras.Model.fit = timed_fit
    tmp = scratch_dir("fit_phases", keep=False)
    for i in range(a.runs):
        cfg = accuracy.recipe_config(accuracy.RECIPE, a.set, a.model, 0, tmp, f"r{i}")
        T.train(cfg, S.make_dataset(cfg), overwrite=True, verbose=0)
        m = marks
        print(json.dumps(dict(run=i, autotune=a.autotune, before_begin=round(m["first_begin"] - m["fit_start"], 2),
                              callbacks_begin=round(m["begin"] - m["first_begin"], 2), epochs=round(m["last_epoch_end"] - m["begin"], 2),
                              callbacks_end=round(m["end"] - m["last_epoch_end"], 2), after_end=round(m["fit_return"] - m["end"], 2))), flush=True)


if __name__ == "__main__": main()
