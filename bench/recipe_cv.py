"""Choose the UCR recipe's snapshot count and learning-rate floor by cross-validation on the UCR training files only.

python bench/recipe_cv.py [--min-lr 1e-4 1e-5] [--datasets ...] [--models resnet fcn] [--folds 3] [--repeat 0] [--name recipe_cv]
python bench/recipe_cv.py --smoke      (3 epochs, ItalyPowerDemand FCN, 2 folds: checks the script runs)
python bench/recipe_cv.py --merge bench/results/recipe_cv_a.json bench/results/recipe_cv_b.json [--name recipe_cv]

The test files of bench/accuracy.py steered the recipe's earlier choices (bench/README.md). This benchmark makes the
remaining two choices without them: each UCR training file is split into `--folds` stratified folds (fixed split,
`random_state` = `--repeat`, default 0); for each fold the recipe trains on the other folds (training seed = `--repeat`,
the recipe's three SGDR cycles, a snapshot at the end of each whatever the recipe's own `snapshots`) and scores the
held-out fold with the average of the last k snapshots' class probabilities, k = 1, 2, 3. One training per (set,
model, fold, floor) gives all three k. Candidates: `--min-lr` floors x k.

The rule, fixed before any result was seen: the candidate with the highest held-out accuracy averaged over the six
(set, model) pairs wins (each pair's accuracy is the fraction right over all its held-out series); candidates within
0.0025 of the best mean (about half of one ArrowHead series: one series is 1/36 of that pair's accuracy, 1/216 of
the six pairs' mean) tie, and a tie goes to more snapshots, then to the higher floor (the published protocol's 1e-4).
`--merge` joins result files written by separate processes (one per floor, run side by side) and applies the rule.

Repeats (added after the first round, before any repeat ran): the first round (repeat 0, floors 1e-4 and 1e-5) chose
one snapshot at floor 1e-4 by a margin of one or two held-out ArrowHead series, and the two floors scored the same on
every fold. Repeats 1 and 2 (`--repeat 1`, `--repeat 2`: another stratified split and another training seed each) run
at floor 1e-4 only; the snapshot count is then chosen again by the same rule and tie margin over repeats 0, 1 and 2 at
floor 1e-4 pooled (`--merge` of the three files: each pair's accuracy is the fraction right over all its held-out
series in the three repeats). Whatever that picks is the recipe's snapshot count.
"""
import argparse, csv, json, statistics, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result, scratch_dir
from accuracy import DATASETS, RECIPE, ROOT, recipe_config, shorten_recipe, snapshot_probabilities

TIE = 0.0025     # a difference in mean held-out accuracy below this is a tie (see the rule above)


def split_file(src:Path, folds:int, out:Path, seed:int=0) -> list[tuple[Path, Path]]:
    "Write `folds` stratified (train, held-out) pairs of the Capfinder-format CSV `src` under `out` (split `seed`); the rows are copied unchanged."
    from sklearn.model_selection import StratifiedKFold
    with open(src, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    labels = [r[header.index("cap_class")] for r in rows]
    pairs = []
    for i, (fit, held) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(rows, labels)):
        paths = (out/f"fold{i}"/"train.csv", out/f"fold{i}"/"heldout.csv")
        for path, idx in zip(paths, (fit, held)):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", newline="") as f:
                csv.writer(f).writerows([header, *(rows[j] for j in idx)])
        pairs.append(paths)
    return pairs


def last_k_accuracy(run, ds, files:list[str]) -> dict[int, float]:
    "Held-out accuracy of the average of the last k snapshots' class probabilities, for k = 1 .. len(files)."
    import numpy as np
    probs, y = snapshot_probabilities(run, ds, files)
    return {k: round(float((np.mean(probs[-k:], axis=0).argmax(1) == y).mean()), 4) for k in range(1, len(probs) + 1)}


def cv_one(name:str, model:str, min_lr:float, folds:int, tmp:Path, epochs:int|None=None, repeat:int=0) -> list[dict]:
    "Cross-validate the recipe at floor `min_lr` on one set's training file (split and training seed `repeat`); one record per fold."
    from trainlib.store import make_dataset
    from trainlib.train import sgdr_cycle_ends, train
    out = []
    for i, (fit, held) in enumerate(split_file(ROOT/"data"/DATASETS[name]["folder"]/"train.csv", folds, tmp/f"{name}-r{repeat}", repeat)):
        cfg = recipe_config(RECIPE, name, model, repeat, tmp, f"cv-{name}-{model}-{min_lr:g}-r{repeat}-{i}", fit, held)
        if epochs: cfg = shorten_recipe(cfg, epochs)        # the same cycles over fewer epochs (the smoke test)
        sgdr = cfg.lr_scheduler.sgdr       # a snapshot at every cycle end, whatever the recipe keeps, so that every k can be scored
        cfg = cfg.update({"lr_scheduler.sgdr.min_lr": min_lr, "lr_scheduler.sgdr.snapshots":
                          len(sgdr_cycle_ends(cfg.train.max_epochs, sgdr.cycle_length, sgdr.mult_factor))})
        ds = make_dataset(cfg)
        run = train(cfg, ds, overwrite=True, verbose=0)
        info = json.loads(run.file("run.json").read_text())
        rec = dict(dataset=name, model=model, min_lr=min_lr, repeat=repeat, fold=i, n_fit=ds.count("train"), n_heldout=ds.count("test"),
                   snapshots=info["snapshots"], heldout_accuracy=last_k_accuracy(run, ds, info["snapshots"]),
                   fit_seconds=info.get("fit_seconds"))
        print(json.dumps(rec), flush=True)
        out.append(rec)
    return out


def choose(records:list[dict]) -> dict:
    "Mean held-out accuracy per candidate (floor, k) and per pair, and the candidate the rule picks."
    pairs = sorted({(r["dataset"], r["model"]) for r in records})
    table = {}
    for r in records:
        for k, acc in r["heldout_accuracy"].items():
            c = table.setdefault((r["min_lr"], int(k)), {}).setdefault((r["dataset"], r["model"]), [0, 0])
            c[0] += acc * r["n_heldout"]; c[1] += r["n_heldout"]
    rows = []
    for (lr, k), per in sorted(table.items()):
        if set(per) != set(pairs): continue        # a candidate must be scored on every pair (all its folds)
        accs = {f"{d}/{m}": round(a / n, 4) for (d, m), (a, n) in sorted(per.items())}
        rows.append(dict(min_lr=lr, snapshots=k, mean=round(statistics.mean(accs.values()), 4), per_pair=accs))
    best = max(r["mean"] for r in rows)
    tied = [r for r in rows if best - r["mean"] < TIE]
    pick = max(tied, key=lambda r: (r["snapshots"], r["min_lr"]))
    return dict(candidates=rows, chosen=dict(min_lr=pick["min_lr"], snapshots=pick["snapshots"], mean=pick["mean"]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--models", nargs="+", default=["resnet", "fcn"], choices=["resnet", "fcn"])
    p.add_argument("--min-lr", nargs="+", type=float, default=[1e-4, 1e-5], help="learning-rate floors to compare")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=0, help="seed of the fold split and of training (the repeats of cross-validation)")
    p.add_argument("--epochs", type=int, default=None, help="scale the recipe to this many epochs (smoke checks only)")
    p.add_argument("--name", default=None, help="result file name (default recipe_cv, recipe_cv_smoke with --smoke)")
    p.add_argument("--smoke", action="store_true", help="3 epochs, ItalyPowerDemand FCN, 2 folds: checks the script runs")
    p.add_argument("--merge", nargs="+", type=Path, help="join these result files and apply the rule instead of training")
    a = p.parse_args(argv)
    a.name = a.name or ("recipe_cv_smoke" if a.smoke else "recipe_cv")
    if a.smoke: a.datasets, a.models, a.epochs, a.folds = ["italypowerdemand"], ["fcn"], 3, 2
    if a.merge:
        parts = [json.loads(f.read_text()) for f in a.merge]
        records = [r for x in parts for r in x["records"]]
        return write_result(a.name, dict(parts=[dict(command=x["command"], date=x["date"], machine=x["machine"]) for x in parts],
                                         records=records, **choose(records)))
    if a.folds < 2: p.error(f"--folds must be >= 2, got {a.folds}")
    tmp = scratch_dir("recipe-cv")
    settings = dict(datasets=a.datasets, models=a.models, min_lr=a.min_lr, folds=a.folds, repeat=a.repeat, epochs=a.epochs or "recipe", recipe=str(RECIPE))
    todo = [(lr, d, m) for lr in a.min_lr for d in a.datasets for m in a.models]
    records = []
    for i, (lr, d, m) in enumerate(todo, 1):     # rewritten after every (floor, set, model), so an interrupted run keeps what finished
        records += cv_one(d, m, lr, a.folds, tmp, a.epochs, a.repeat)
        write_result(a.name, dict(settings=settings, records=records, **(choose(records) if i == len(todo) else {})),
                     quiet=i < len(todo))


if __name__ == "__main__": main()
