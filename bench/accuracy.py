"""Test accuracy of ResNet and FCN on shipped UCR sets vs the published figures (Fawaz et al. 2019), over seeds.

python bench/accuracy.py [--datasets gunpoint arrowhead italypowerdemand] [--models resnet fcn] [--seeds 0 1 2]
                         [--epochs 1500] [--protocol both] [--name accuracy] [--smoke]
python bench/accuracy.py --merge bench/results/a.json bench/results/b.json [--name accuracy]

Protocols (both train on the whole UCR training file and score the UCR test file once, at the end):
- `published`: Fawaz et al. 2019 (dl-4-tsc): series as shipped (the UCR archive z-normalises each series; trainlib's
  store does not rescale), batch min(n/10, 16) for FCN and min(n/10, 64) for ResNet, Adam 1e-3, learning rate
  halved after 50 epochs without a lower training loss (floor 1e-4), `--epochs` epochs (paper: 1500), the model of
  the epoch with the lowest training loss is kept.
- `trainlib`: the shipped recipe nbs/reports/ucr_recipe.yaml (batch 5, LR halved after 15 stalled epochs);
  `--epochs` overrides its max_epochs only when given.
`--merge` combines the runs of result files written by separate processes (e.g. one per protocol, run side by side)
into one result. Every run is `trainlib.train.train` + `trainlib.evaluate.evaluate`; wall-clock is the run's fit seconds.
"""
import argparse, json, statistics, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result, RESULTS

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


def published_config(base, model:str, n_train:int, epochs:int):
    "The published protocol's settings on top of `base`."
    return base.update({"train.batch_size": max(1, min(n_train // 10, PUBLISHED_BATCH_CAP[model])), "train.max_epochs": epochs,
                        "train.patience": epochs + 1, "train.learning_rate": 1e-3, "train.optimizer": "adam", "train.monitor": "loss",
                        "shared.use_augmentation": False, "lr_scheduler.type": "reduce_lr_on_plateau",
                        "lr_scheduler.reduce_lr_on_plateau.factor": 0.5, "lr_scheduler.reduce_lr_on_plateau.patience": 50,
                        "lr_scheduler.reduce_lr_on_plateau.min_lr": 1e-4})


def run_one(protocol:str, name:str, model:str, seed:int, epochs:int|None, tmp:Path) -> dict:
    "Train and score one (protocol, dataset, model, seed); return its record."
    from trainlib.config import load_config
    from trainlib.store import make_dataset
    from trainlib.train import train
    from trainlib.evaluate import evaluate
    d = DATASETS[name]
    base = load_config(RECIPE).update({
        "etl.data_path": str(ROOT/"data"/d["folder"]/"train.csv"), "etl.test_path": str(ROOT/"data"/d["folder"]/"test.csv"),
        "etl.dataset_dir": str(tmp/"datasets"), "shared.output_dir": str(tmp/"runs"), "shared.num_classes": d["n_classes"],
        "shared.target_length": d["length"], "shared.model_type": model, "train.seed": seed,
        "train.run_name": f"{protocol}-{name}-{model}-{seed}", "train.checkpoint_interval": 1e9})
    ds = make_dataset(base)
    n = ds.count("train")
    if protocol == "published": cfg = published_config(base, model, n, epochs)
    else: cfg = base if epochs is None else base.update({"train.max_epochs": epochs, "train.patience": epochs + 1})
    t = time.perf_counter()
    run = train(cfg, ds, overwrite=True, verbose=0)
    metrics = evaluate(run, ds, "test")
    info = json.loads(run.file("run.json").read_text())
    rec = dict(protocol=protocol, dataset=name, model=model, seed=seed, n_train=n, n_test=ds.count("test"),
               batch_size=cfg.train.batch_size, epochs=info.get("epochs"), best_epoch=info.get("best_epoch"),
               augmentation=cfg.shared.use_augmentation, test_accuracy=round(metrics["accuracy"], 4),
               fit_seconds=info.get("fit_seconds"), total_seconds=round(time.perf_counter() - t, 2))
    print(json.dumps(rec), flush=True)
    return rec


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
    p.add_argument("--protocol", default="both", choices=("published", "trainlib", "both"))
    p.add_argument("--name", default=None, help="result file name (default accuracy, accuracy_smoke with --smoke)")
    p.add_argument("--merge", nargs="+", type=Path, help="combine the runs of these result files instead of training")
    p.add_argument("--smoke", action="store_true", help="2 epochs, ItalyPowerDemand, seed 0: checks the script runs")
    a = p.parse_args(argv)
    if a.epochs is not None and a.epochs <= 0: p.error(f"--epochs must be > 0, got {a.epochs}")
    name = a.name or ("accuracy_smoke" if a.smoke else "accuracy")
    if a.merge:
        parts = [json.loads(f.read_text()) for f in a.merge]
        runs = [r for part in parts for r in part["runs"]]
        settings = [dict(command=x["command"], date=x["date"], settings=x["settings"], machine=x["machine"]) for x in parts]
        return write_result(name, dict(published_source=SOURCE, parts=settings, runs=runs, summary=summarise(runs)))
    if a.smoke: a.datasets, a.seeds, a.epochs = ["italypowerdemand"], [0], 2
    protocols = ["published", "trainlib"] if a.protocol == "both" else [a.protocol]
    tmp = Path(tempfile.mkdtemp(prefix="trainlib-accuracy-"))
    settings = dict(datasets=a.datasets, models=a.models, seeds=a.seeds, protocols=protocols,
                    published_epochs=a.epochs or 1500 if "published" in protocols else None,
                    trainlib_epochs=a.epochs if a.epochs else "recipe (nbs/reports/ucr_recipe.yaml)", smoke=a.smoke)
    todo = [(pr, d, m, s) for d in a.datasets for m in a.models for s in a.seeds for pr in protocols]
    runs = []
    for pr, d, m, s in todo:       # the result is rewritten after every run, so a run cut short by `timeout` keeps what finished
        runs.append(run_one(pr, d, m, s, (a.epochs or 1500) if pr == "published" else a.epochs, tmp))
        write_result(name, dict(published_source=SOURCE, settings=settings, complete=len(runs) == len(todo),
                                runs=runs, summary=summarise(runs)), quiet=len(runs) < len(todo))


if __name__ == "__main__": main()
