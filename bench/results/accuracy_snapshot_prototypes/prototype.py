"""Prototype: snapshot ensemble within the recipe's 300 epochs (sgdr, 3 cycles of 100, cycle-end snapshots)."""
import sys, json, time
from pathlib import Path
sys.path.insert(0, "/work/main/bench")
import numpy as np
from accuracy import DATASETS, ROOT, RECIPE
from common import scratch_dir

def main(name, model, seeds, cycle=100, epochs=300, out=None, extra=None):
    import keras
    from trainlib.config import load_config
    from trainlib.store import make_dataset, load_arrays
    from trainlib.train import train
    from trainlib.evaluate import evaluate
    tmp = scratch_dir("snapproto")
    d = DATASETS[name]
    recs = []
    for seed in seeds:
        base = load_config(RECIPE).update({
            "etl.data_path": str(ROOT/"data"/d["folder"]/"train.csv"), "etl.test_path": str(ROOT/"data"/d["folder"]/"test.csv"),
            "etl.dataset_dir": str(tmp/"datasets"), "shared.output_dir": str(tmp/"runs"), "shared.num_classes": d["n_classes"],
            "shared.target_length": d["length"], "shared.model_type": model, "train.seed": seed,
            "train.run_name": f"snap-{name}-{model}-{seed}", "train.checkpoint_interval": 1e9,
            "train.max_epochs": epochs, "train.patience": epochs + 1, "lr_scheduler.sgdr.cycle_length": cycle, **(extra or {})})
        ds = make_dataset(base)
        xt, yt = load_arrays(ds, "test")
        class Probe(keras.callbacks.Callback):
            probs, secs = [], 0.0
            def on_epoch_end(self, epoch, logs=None):
                if (epoch + 1) % cycle == 0:
                    t = time.perf_counter(); self.probs.append(self.model.predict(xt, verbose=0, batch_size=256)); self.secs += time.perf_counter() - t
        probe = Probe(); probe.probs = []
        run = train(base, ds, overwrite=True, verbose=0, callbacks=[probe])
        best = evaluate(run, ds, "test")["accuracy"]
        info = json.loads(run.file("run.json").read_text())
        snaps = [float((p.argmax(1) == yt).mean()) for p in probe.probs]
        ens = float((np.mean(probe.probs, 0).argmax(1) == yt).mean())
        ens2 = float((np.mean(probe.probs[-2:], 0).argmax(1) == yt).mean())
        rec = dict(extra=extra, dataset=name, model=model, seed=seed, cycle=cycle, snapshots=snaps, ensemble_all=ens, ensemble_last2=ens2,
                   best_loss_model=best, best_epoch=info.get("best_epoch"), fit_seconds=info.get("fit_seconds"), probe_seconds=round(probe.secs, 2))
        print(json.dumps(rec), flush=True); recs.append(rec)
        if out: Path(out).write_text(json.dumps(recs, indent=1))

if __name__ == "__main__":
    name, model, out = sys.argv[1], sys.argv[2], sys.argv[3]
    cycle = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else None
    main(name, model, [0, 1, 2], cycle=cycle, out=out, extra=extra)
