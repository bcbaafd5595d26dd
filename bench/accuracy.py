"""Test accuracy of ResNet and FCN on shipped UCR sets vs the published figures (Fawaz et al. 2019), over seeds.

python bench/accuracy.py [--datasets gunpoint arrowhead italypowerdemand] [--models resnet fcn] [--seeds 0 1 2]
                         [--epochs 1500] [--plain-epochs 300] [--protocol all] [--name accuracy] [--smoke]
python bench/accuracy.py --merge bench/results/a.json bench/results/b.json:plain,published [--name accuracy]

Protocols (both train on the whole UCR training file and score the UCR test file once, at the end):
- `published`: Fawaz et al. 2019 (dl-4-tsc): series as shipped (the UCR archive z-normalises each series; trainlib's
  store does not rescale), batch min(n/10, 16) for FCN and min(n/10, 64) for ResNet, Adam 1e-3, learning rate
  halved after 50 epochs without a lower training loss (floor 1e-4), `--epochs` epochs (paper: 1500), the model of
  the epoch with the lowest training loss is kept.
- `trainlib`: the shipped recipe nbs/reports/ucr_recipe.yaml; `--epochs` overrides its max_epochs only when given (its
  SGDR cycles are scaled to keep their number).
- `plain`: the wall-clock reference the recipe must not exceed: the published protocol cut to `--plain-epochs`
  (300), written as a minimal plain-Keras script (the same architecture from `trainlib.models.build_model`, NumPy
  arrays, `model.fit`, ReduceLROnPlateau, the lowest-training-loss weights kept in memory), no trainlib pipeline.
`--merge` combines the runs of result files written by separate processes (e.g. one per protocol, run side by side)
into one result; `file.json:plain,published` takes only those protocols' runs from a file (e.g. the plain reference runs
of an earlier recipe's results). The published and trainlib runs are `trainlib.train.train` + `trainlib.evaluate.evaluate`; wall-clock
is the run's fit seconds (the plain run's: its `model.fit`).
"""
import argparse, json, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result, scratch_dir, RESULTS

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT/"nbs/reports/ucr_recipe.yaml"
SOURCE = ("Fawaz et al. 2019, 'Deep learning for time series classification: a review', DMKD 33:917-963; mean (std) "
          "test accuracy over 10 runs on the UCR/UEA 2015 archive, from github.com/hfawaz/dl-4-tsc "
          "results/results-uea-avg-std.csv (commit e0233ef), same figures as that repository's README table")
# name -> folder under data/, classes, length, published test accuracy (mean, std) per model
DATASETS = {
    "gunpoint": dict(folder="gunpoint", ucr="GunPoint", n_classes=2, length=150,
                     published=dict(resnet=(0.991, 0.007), fcn=(1.000, 0.000))),
    "arrowhead": dict(folder="arrowhead", ucr="ArrowHead", n_classes=3, length=251,
                      published=dict(resnet=(0.845, 0.012), fcn=(0.843, 0.015))),
    "italypowerdemand": dict(folder="italypowerdemand", ucr="ItalyPowerDemand", n_classes=2, length=24,
                             published=dict(resnet=(0.963, 0.004), fcn=(0.961, 0.003))),
}
PUBLISHED_BATCH_CAP = dict(fcn=16, resnet=64)


def published_batch_size(model:str, n_train:int) -> int:
    "The published protocol's batch: min(n/10, 16) for FCN, min(n/10, 64) for ResNet, at least 1."
    return max(1, min(n_train // 10, PUBLISHED_BATCH_CAP[model]))


def published_config(base, model:str, n_train:int, epochs:int):
    "The published protocol's settings on top of `base`."
    return base.update({"train.batch_size": published_batch_size(model, n_train), "train.max_epochs": epochs,
                        "train.patience": epochs + 1, "train.learning_rate": 1e-3, "train.optimizer": "adam", "train.monitor": "loss",
                        "shared.use_augmentation": False, "lr_scheduler.type": "reduce_lr_on_plateau",
                        "lr_scheduler.reduce_lr_on_plateau.factor": 0.5, "lr_scheduler.reduce_lr_on_plateau.patience": 50,
                        "lr_scheduler.reduce_lr_on_plateau.min_lr": 1e-4, "lr_scheduler.sgdr.snapshots": 0})


def plain_fit(x, y, xt, yt, model:str, n_classes:int, seed:int, epochs:int) -> tuple[float, float, int]:
    "The published protocol as a minimal plain-Keras script: (test accuracy, fit seconds, best epoch)."
    import keras, numpy as np
    from trainlib.models import build_model
    keras.utils.set_random_seed(seed)
    m = build_model(model, x.shape[1:], n_classes)
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    class KeepBest(keras.callbacks.Callback):       # dl-4-tsc: ModelCheckpoint(monitor="loss", save_best_only=True)
        best, weights, epoch = np.inf, None, None
        def on_epoch_end(self, epoch, logs=None):
            if logs["loss"] < self.best: self.best, self.weights, self.epoch = logs["loss"], self.model.get_weights(), epoch + 1
    keep = KeepBest()
    t = time.perf_counter()
    m.fit(x, y, batch_size=published_batch_size(model, len(y)), epochs=epochs, verbose=0,
          callbacks=[keep, keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=50, min_lr=1e-4)])
    fit = time.perf_counter() - t
    m.set_weights(keep.weights)
    return float(m.evaluate(xt, yt, verbose=0)[1]), round(fit, 2), keep.epoch


def recipe_config(recipe:Path, name:str, model:str, seed:int, tmp:Path, run_name:str, train_csv=None, test_csv=None):
    "The recipe's config for one UCR set and model: its data files (default: the shipped UCR train and test files), classes and length, runs under `tmp`."
    from trainlib.config import load_config
    d = DATASETS[name]
    folder = ROOT/"data"/d["folder"]
    return load_config(recipe).update({
        "etl.data_path": str(train_csv or folder/"train.csv"), "etl.test_path": str(test_csv or folder/"test.csv"),
        "etl.dataset_dir": str(tmp/"datasets"), "shared.output_dir": str(tmp/"runs"), "shared.num_classes": d["n_classes"],
        "shared.target_length": d["length"], "shared.model_type": model, "train.seed": seed,
        "train.run_name": run_name, "train.checkpoint_interval": 1e9})


def shorten_recipe(cfg, epochs:int):
    "`cfg` over `epochs` epochs (no early stopping): its SGDR cycles shrunk by the same factor (at least one epoch each), its snapshots capped at the cycles that still end."
    from trainlib.train import sgdr_cycle_ends
    out = cfg.update({"train.max_epochs": epochs, "train.patience": epochs + 1})
    lr = cfg.lr_scheduler
    if lr.type != "sgdr": return out
    length = max(1, lr.sgdr.cycle_length * epochs // cfg.train.max_epochs)
    ends = sgdr_cycle_ends(epochs, length, lr.sgdr.mult_factor)
    return out.update({"lr_scheduler.sgdr.cycle_length": length, "lr_scheduler.sgdr.snapshots": min(lr.sgdr.snapshots, len(ends))})


def run_one(protocol:str, name:str, model:str, seed:int, epochs:int|None, tmp:Path, recipe:Path=RECIPE) -> dict:
    "Train and score one (protocol, dataset, model, seed); return its record."
    from trainlib.store import make_dataset
    from trainlib.train import train
    from trainlib.evaluate import evaluate
    d = DATASETS[name]
    base = recipe_config(recipe, name, model, seed, tmp, f"{protocol}-{name}-{model}-{seed}")
    ds = make_dataset(base)
    n = ds.count("train")
    if protocol == "plain":
        from trainlib.store import load_arrays
        (x, y), (xt, yt) = load_arrays(ds, "train"), load_arrays(ds, "test")
        t = time.perf_counter()
        acc, fit, best = plain_fit(x, y, xt, yt, model, d["n_classes"], seed, epochs)
        rec = dict(protocol=protocol, dataset=name, model=model, seed=seed, n_train=n, n_test=len(yt),
                   batch_size=published_batch_size(model, n), epochs=epochs, best_epoch=best, augmentation=False,
                   test_accuracy=round(acc, 4), fit_seconds=fit, total_seconds=round(time.perf_counter() - t, 2))
        print(json.dumps(rec), flush=True)
        return rec
    if protocol == "published": cfg = published_config(base, model, n, epochs)
    elif epochs is None: cfg = base
    else: cfg = shorten_recipe(base, epochs)
    t = time.perf_counter()
    run = train(cfg, ds, overwrite=True, verbose=0)
    metrics = evaluate(run, ds, "test")
    info = json.loads(run.file("run.json").read_text())
    members = snapshot_accuracy(run, ds, info.get("snapshots") or [])
    rec = dict(protocol=protocol, dataset=name, model=model, seed=seed, n_train=n, n_test=ds.count("test"),
               batch_size=cfg.train.batch_size, epochs=info.get("epochs"), best_epoch=info.get("best_epoch"),
               augmentation=cfg.shared.use_augmentation, test_accuracy=round(metrics["accuracy"], 4),
               fit_seconds=info.get("fit_seconds"), total_seconds=round(time.perf_counter() - t, 2),
               **({"snapshots": info["snapshots"], "snapshot_test_accuracy": members} if members else {}))
    print(json.dumps(rec), flush=True)
    return rec


def merge_part(arg:str) -> tuple[Path, set|None]:
    "`--merge` argument `file.json` (all its runs) or `file.json:plain,published` (only those protocols' runs)."
    path, _, protocols = arg.partition(".json:")
    if not protocols: return Path(arg), None
    keep = set(protocols.split(","))
    if not keep <= {"published", "trainlib", "plain"}: raise SystemExit(f"--merge {arg}: unknown protocol in {protocols!r}")
    return Path(path + ".json"), keep


def snapshot_probabilities(run, ds, files:list[str], split:str="test"):
    "Each snapshot model's class probabilities on `split` (a list of arrays, in `files`' order), and that split's labels."
    from trainlib.store import load_arrays
    from trainlib.transfer import load_pretrained
    x, y = load_arrays(ds, split)
    return [load_pretrained(run.file(f"snapshots/{f}")).predict(x, verbose=0) for f in files], y


def snapshot_accuracy(run, ds, files:list[str]) -> list[float]:
    "Test accuracy of each member of a snapshot ensemble alone (a diagnostic: does the ensemble pay?)."
    probs, y = snapshot_probabilities(run, ds, files)
    return [round(float((p.argmax(1) == y).mean()), 4) for p in probs]


def summarise(runs:list[dict]) -> list[dict]:
    "Mean ± std test accuracy and mean fit seconds per (protocol, dataset, model), beside the published figure."
    groups = {}
    for r in runs: groups.setdefault((r["protocol"], r["dataset"], r["model"]), []).append(r)
    out = []
    for (protocol, name, model), rs in sorted(groups.items()):
        acc = [r["test_accuracy"] for r in rs]
        pub = DATASETS[name]["published"][model]
        out.append(dict(protocol=protocol, dataset=name, model=model, seeds=[r["seed"] for r in rs], epochs=rs[0]["epochs"],
                        batch_size=rs[0]["batch_size"], accuracy_mean=round(statistics.mean(acc), 4),
                        accuracy_std=round(statistics.stdev(acc), 4) if len(acc) > 1 else None,
                        fit_seconds_mean=round(statistics.mean(r["fit_seconds"] for r in rs), 1),
                        published_mean=pub[0], published_std=pub[1], gap=round(statistics.mean(acc) - pub[0], 4)))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--models", nargs="+", default=["resnet", "fcn"], choices=["resnet", "fcn"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=None, help="published protocol's epochs (default 1500); overrides the recipe's when given")
    p.add_argument("--plain-epochs", type=int, default=300, help="epochs of the plain-Keras reference run (the issue's 300)")
    p.add_argument("--protocol", nargs="+", default=["all"], choices=("published", "trainlib", "plain", "both", "all"),
                   help="both: published + trainlib; all: the three")
    p.add_argument("--name", default=None, help="result file name (default accuracy, accuracy_smoke with --smoke)")
    p.add_argument("--recipe", type=Path, default=RECIPE, help="the trainlib recipe (YAML) to run as protocol `trainlib`")
    p.add_argument("--merge", nargs="+", help="combine the runs of these result files instead of training (file.json:plain keeps only its plain runs)")
    p.add_argument("--smoke", action="store_true", help="2 epochs, ItalyPowerDemand, seed 0: checks the script runs")
    p.add_argument("--keep-runs", action="store_true", help="keep the datasets and run folders (checkpoints, histories) in the temporary folder")
    a = p.parse_args(argv)
    if a.epochs is not None and a.epochs <= 0: p.error(f"--epochs must be > 0, got {a.epochs}")
    if a.plain_epochs <= 0: p.error(f"--plain-epochs must be > 0, got {a.plain_epochs}")
    name = a.name or ("accuracy_smoke" if a.smoke else "accuracy")
    if a.merge:
        picks = [merge_part(str(f)) for f in a.merge]
        parts = [json.loads(f.read_text()) for f, _ in picks]
        runs = [r for part, (_, keep) in zip(parts, picks) for r in part["runs"] if keep is None or r["protocol"] in keep]
        settings = [dict(command=x["command"], date=x["date"], settings=x["settings"], machine=x["machine"]) for x in parts]
        return write_result(name, dict(published_source=SOURCE, parts=settings, runs=runs, summary=summarise(runs)))
    if a.smoke: a.datasets, a.seeds, a.epochs, a.plain_epochs = ["italypowerdemand"], [0], 2, 2
    expand = dict(both=["published", "trainlib"], all=["published", "trainlib", "plain"])
    protocols = list(dict.fromkeys(q for pr in a.protocol for q in expand.get(pr, [pr])))
    tmp = scratch_dir("accuracy", keep=a.keep_runs)   # each run leaves 15-140 MB of datasets and checkpoints
    settings = dict(datasets=a.datasets, models=a.models, seeds=a.seeds, protocols=protocols,
                    published_epochs=a.epochs or 1500 if "published" in protocols else None,
                    trainlib_epochs=a.epochs if a.epochs else f"recipe ({a.recipe})", recipe=str(a.recipe),
                    plain_epochs=a.plain_epochs if "plain" in protocols else None, smoke=a.smoke)
    todo = [(pr, d, m, s) for d in a.datasets for m in a.models for s in a.seeds for pr in protocols]
    runs = []
    for pr, d, m, s in todo:       # the result is rewritten after every run, so a run cut short by `timeout` keeps what finished
        epochs = dict(published=a.epochs or 1500, plain=a.plain_epochs).get(pr, a.epochs)
        runs.append(run_one(pr, d, m, s, epochs, tmp, a.recipe))
        write_result(name, dict(published_source=SOURCE, settings=settings, complete=len(runs) == len(todo),
                                runs=runs, summary=summarise(runs)), quiet=len(runs) < len(todo))


if __name__ == "__main__": main()
