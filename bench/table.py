"""Regenerate the results table in bench/README.md from bench/results/*.json.

python bench/table.py [--results DIR] [--readme FILE] [--include-smoke]
(the defaults are bench/results, or $TRAINLIB_BENCH_RESULTS, and bench/README.md; the smoke test points both elsewhere)
"""
import argparse, json, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import RESULTS
from recipe_cv import OLD_CYCLE
START, END = "<!-- results:start -->", "<!-- results:end -->"
ACC_START, ACC_END = "<!-- accuracy:start -->", "<!-- accuracy:end -->"
ACC_ROUNDS = {"accuracy-intel": "accuracy_intel.json"}   # README marker -> merged result file of a second CPU's accuracy table
WALLCLOCK_ROUNDS = {"wallclock": "accuracy_alone_", "wallclock-notune": "accuracy_notune_"}   # README marker -> result files
# README marker -> (dataset, model, result files): every run of one pair by CPU and by the instruction sets XLA may use
VARIANT_ROUNDS = {"gunpoint-fcn-variants": ("gunpoint", "fcn", (
    "accuracy_snap2_wallclock_fcn_ag.json", "accuracy_snap2_fcn_ag_s12.json", "accuracy_published_gunpoint_fcn_s*.json",  # AMD
    "accuracy_300ep_one_cycle_recipe/accuracy_fcn.json:plain",                 # AMD, plain seeds 1-2 (an older recipe's round)
    "accuracy_notune_gunpoint_fcn_a.json", "accuracy_intel_fcn_s12.json", "accuracy_intel_gunpoint_fcn_seeds_*.json",      # Intel
    "isa_*_gunpoint_fcn_*.json")),
    "gunpoint-fcn-four-cycles": ("gunpoint", "fcn", ("candidate_4cycles/c4_gunpoint_fcn_*.json",), "4 cycles")}   # a candidate recipe (bench/candidates/ucr_recipe_4cycles.yaml)


def rows(results:Path=RESULTS, include_smoke:bool=False):
    for f in sorted(results.glob("*.json")):
        if f.stem.endswith("_smoke") and not include_smoke: continue     # toy sizes: they check the scripts run, their numbers mean nothing
        if f.stem.startswith("accuracy_") and not f.stem.endswith("_smoke"): continue  # one protocol's part of a run; `accuracy.py --merge` joins them into accuracy.json
        if f.stem.startswith(("recipe_cv_minlr_", "recipe_cv_c50_", "recipe_cv_c100_r")): continue  # one floor's, cycle length's or repeat's part; `recipe_cv.py --merge` joins them (recipe_cv.json, recipe_cv_repeats.json, recipe_cv_cycles.json, recipe_cv_log_loss.json)
        if f.stem.startswith("recipe_cv_c100_repro"): continue  # a check that an old part's runs repeat: in the text
        if f.stem.startswith("pipeline_teardown"): continue  # a diagnostic: its fits are described in the text, not tabulated
        if f.stem.startswith("isa_"): continue  # accuracy.py runs under an instruction-set limit: variants_table
        r = json.loads(f.read_text())
        m = r["machine"]
        where = f"{m['cores']} cores, {m['memory_mib'] // 1024} GiB, load {m.get('load_at_start')}"
        if r["benchmark"].startswith("overhead"):
            s = r["samples_per_second_median"]
            what = (f"{r['model']} bs {r['batch_size']}, {r['epochs']} ep × {r['repeats']}: plain {s['plain_keras']}/s, "
                    f"trainlib {s['trainlib']}/s (×{r['ratio_trainlib_vs_plain']}), fast {s['trainlib_fast']}/s (×{r['ratio_trainlib_fast_vs_plain']})")
            if "steady_samples_per_second_median" in r:
                st = r["steady_samples_per_second_median"]
                what += (f"; steady epochs: plain {st['plain_keras']}/s, trainlib {st['trainlib']}/s (×{r['steady_ratio_trainlib_vs_plain']}), "
                         f"fast {st['trainlib_fast']}/s (×{r['steady_ratio_trainlib_fast_vs_plain']})")
        elif r["benchmark"].startswith("tune_memory"):
            what = (f"RSS {r['rss_mib_after_2']} MiB after 2 trials, {r['rss_mib_after_n']} after {r['trials']} "
                    f"(×{r['rss_ratio']}, target ≤ {r['target_ratio']}); {r['overhead_seconds_per_trial_median']} s/trial beyond fit")
        elif r["benchmark"].startswith("grid_memory"):
            what = (f"{r['mode'].replace('_', ' ')}: RSS {r['rss_mib_after_2']} MiB after 2 trainings, {r['rss_mib_after_n']} after "
                    f"{r['trainings']} (×{r['rss_ratio']}, {r['mib_per_training']} MiB per training); {r['seconds_per_training']} s per training")
        elif r["benchmark"].startswith("etl"):
            what = "; ".join(f"{x['rows']:,} rows ({x['csv_mib']:,.0f} MiB): {x['rows_per_second']:,.0f} rows/s, "
                             f"{x['rows_per_cpu_second']:,.0f} rows/CPU-s, peak RSS {x['peak_rss_mib']:,.0f} MiB" for x in r["sizes"])
            what += f" (RSS ×{r['rss_growth_ratio']} for ×{r['sizes'][1]['rows'] // r['sizes'][0]['rows']} rows)"
        elif r["benchmark"].startswith("backends"):
            f, st = r["samples_per_second_fit_median"], r["samples_per_second_steady_median"]
            what = (f"{r['model']} bs {r['batch_size']}, {r['epochs']} ep × {r['repeats']}, steady epochs: tensorflow {st['tensorflow']}/s, "
                    f"jax {st['jax']}/s (×{r['ratio_jax_vs_tensorflow_steady']}); whole fit incl. compile: tensorflow {f['tensorflow']}/s, "
                    f"jax {f['jax']}/s (×{r['ratio_jax_vs_tensorflow_fit']}); first epoch tensorflow {r['first_epoch_seconds_median']['tensorflow']} s, jax {r['first_epoch_seconds_median']['jax']} s; "
                    f"load {r['load_before_runs']:.1f} → {r['load_after_runs']:.1f}")
        elif r["benchmark"].startswith("roofline"):
            what = f"matmul {r['matmul_size']}² float32 {r['matmul_gflops']} GFLOP/s; {r['epochs']} ep; " + "; ".join(
                f"{x['model']} bs {x['batch_size']} ({x['forward_mflops_per_sample']} MFLOP/sample fwd): "
                + (("steady " + ", ".join(f"{k} {x['steady_training_gflops'][k]} GFLOP/s ({100 * v:.0f} %, {x['steady_per_step_ms'][k]} ms/step)"
                                          for k, v in x["steady_fraction_of_matmul"].items()) + "; whole fit ") if "steady_fraction_of_matmul" in x else "")
                + ", ".join(f"{k} {100 * v:.0f} %" for k, v in x["fraction_of_matmul"].items())
                for x in r["results"])
        elif r["benchmark"].startswith("accuracy"):
            gaps = {}
            for x in r["summary"]: gaps.setdefault(x["protocol"], []).append(x["gap"])
            what = (f"{len(r['runs'])} runs; mean test-accuracy gap to the published figure: "
                    + ", ".join(f"{p} protocol {sum(g) / len(g):+.3f} over {len(g)} (set, model) pairs" for p, g in gaps.items())
                    + "; per set in the accuracy table below" + (" (incomplete)" if r.get("complete") is False else ""))
        elif r["benchmark"].startswith("recipe_cv"):
            c, inc = r["chosen"], r.get("incumbent")
            repeats = sorted({x.get("repeat", 0) for x in r["records"]})
            cycles = len({x.get("cycle_length", OLD_CYCLE) for x in r["candidates"]}) > 1       # name the cycle length only where it varies
            name = lambda x: (f"cycles of {x.get('cycle_length', OLD_CYCLE)}, " if cycles else "") + f"{x['min_lr']:g}/{x['snapshots']}"
            loss = lambda x: f", log loss {x['log_loss']}" if "log_loss" in x else ""     # the log-loss rule's second measure (its repeats only)
            what = (f"{len(r['records'])} fold runs on the UCR training files (repeats {', '.join(map(str, repeats))}); "
                    + (f"against the recipe ({name(inc)}): " if inc else "") + "chosen: "
                    + (f"cycles of {c['cycle_length']}, " if cycles else "") + f"floor {c['min_lr']:g}, average of the last "
                    f"{c['snapshots']} snapshots (mean held-out accuracy {c['mean']}{loss(c)}"
                    + (f" over repeat{'s' * (len(r['log_loss_repeats']) > 1)} {', '.join(map(str, r['log_loss_repeats']))}" if "log_loss_repeats" in r else "")
                    + "); all: " + ", ".join(f"{name(x)}: {x['mean']}{loss(x)}" for x in r["candidates"]))
        else: what = ", ".join(f"{k}={v}" for k, v in r.items() if isinstance(v, (int, float, str)) and k not in ("command", "date"))
        yield f"| {r['benchmark']} | {what} | `{r['command']}` | {r['date']} | {where} |"


def _acc(x):
    return f"{x['accuracy_mean']}" + (f" ± {x['accuracy_std']}" if x.get("accuracy_std") is not None else "")


def accuracy_table(results:Path=RESULTS, include_smoke:bool=False, name:str="accuracy.json"):
    "One row per (dataset, model) of result file `name`: each protocol's test accuracy and fit seconds beside the published figure."
    f = results/name
    if include_smoke and not f.is_file(): f = results/"accuracy_smoke.json"
    if not f.is_file(): return f"(no bench/results/{name} yet)"
    r = json.loads(f.read_text())
    cells = {(x["dataset"], x["model"], x["protocol"]): x for x in r["summary"]}
    protocols = [p for p in ("plain", "published", "trainlib") if any(k[2] == p for k in cells)]
    head = dict(plain="plain Keras, published protocol cut short", published="published protocol", trainlib="trainlib recipe")
    lines = ["| dataset | model | published (Fawaz et al. 2019, 10 runs) | "
             + " | ".join(f"{head[p]}: acc, fit s (epochs, batch, seeds)" for p in protocols) + " |",
             "|---|---|---|" + "---|" * len(protocols)]
    col = lambda x: "not run" if x is None else f"{_acc(x)}, {x['fit_seconds_mean']} s ({x['epochs']} ep, bs {x['batch_size']}, seeds {x['seeds']})"
    for d, m in sorted({k[:2] for k in cells}):
        any_ = next(cells[(d, m, p)] for p in protocols if (d, m, p) in cells)
        lines.append(f"| {d} | {m} | {any_['published_mean']} ± {any_['published_std']} | "
                     + " | ".join(col(cells.get((d, m, p))) for p in protocols) + " |")
    cpus = sorted({str(x["machine"].get("cpu")) for x in r.get("parts") or [r]})   # accuracies differ across CPUs: say whose
    lines.append(f"\nCPU of the runs: {', '.join(cpus)} ({len(r.get('parts') or [r])} result files, listed in {f.name}'s parts).")
    return "\n".join(lines)


def wallclock_table(results:Path=RESULTS, prefix:str="accuracy_alone_"):
    "One row per (dataset, model) of the wall-clock round: recipe and plain fit seconds in each order they ran, and the ratios."
    pairs = {}
    for f in sorted(results.glob(f"{prefix}*.json")):
        r = json.loads(f.read_text())
        fit = {x["protocol"]: x for x in r["runs"]}
        if not {"trainlib", "plain"} <= set(fit): continue              # cut short before both ran
        t, p = fit["trainlib"], fit["plain"]
        first = r["settings"]["protocols"][0]
        pairs.setdefault((t["dataset"], t["model"]), []).append(dict(first=first, t=t, p=p, cpu=r["machine"].get("cpu")))
    if not pairs: return f"(no {prefix}*.json results yet)"
    lines = ["| dataset | model | order | recipe fit s | plain fit s | ratio | recipe acc | plain acc |", "|---|---|---|---|---|---|---|---|"]
    ratios = []
    for (d, m), runs in sorted(pairs.items()):
        for x in sorted(runs, key=lambda x: x["first"] != "trainlib"):
            ratio = x["t"]["fit_seconds"] / x["p"]["fit_seconds"]
            ratios.append(ratio)
            order = "recipe, then plain" if x["first"] == "trainlib" else "plain, then recipe"
            lines.append(f"| {d} | {m} | {order} | {x['t']['fit_seconds']} | {x['p']['fit_seconds']} | {ratio:.2f} | "
                         f"{x['t']['test_accuracy']} | {x['p']['test_accuracy']} |")
    cpus = sorted({x["cpu"] for runs in pairs.values() for x in runs})
    lines.append(f"\n{len(ratios)} recipe/plain pairs; ratio {min(ratios):.2f} to {max(ratios):.2f}, mean {sum(ratios) / len(ratios):.2f}; "
                 f"CPU: {', '.join(cpus)}; files {prefix}*.json.")
    return "\n".join(lines)

def _variant(machine:dict) -> str:
    "The CPU and the instruction-set limit a run's XLA code had (`XLA_FLAGS=--xla_cpu_max_isa=...`; none: the CPU's own)."
    cpu = str(machine.get("cpu")).replace("(R)", "").replace(" Processor", "")
    flags = (machine.get("numerics_env") or {}).get("XLA_FLAGS", "")
    limit = next((f.split("=", 1)[1] for f in flags.split() if f.startswith("--xla_cpu_max_isa=")), None)
    return f"{cpu}, XLA ≤ {limit}" if limit else cpu


def variants_table(results:Path, dataset:str, model:str, patterns:tuple, recipe:str="recipe"):
    "Test accuracy of every run of (`dataset`, `model`) in the files matching `patterns`: a row per (protocol, seed), a column per CPU and XLA instruction-set limit; `recipe` names the trainlib runs' rows."
    cells, files = {}, 0
    for pattern in patterns:
        pat, _, only = pattern.partition(":")                  # file.json:plain keeps only its plain runs
        for f in sorted(results.glob(pat)):
            r, files = json.loads(f.read_text()), files + 1
            for x in r["runs"]:
                if (x["dataset"], x["model"]) == (dataset, model) and only in ("", x["protocol"]):
                    cells.setdefault((x["protocol"], x["seed"], _variant(r["machine"])), x)
    if not cells: return f"(no {dataset} {model} runs yet)"
    cols = list(dict.fromkeys(k[2] for k in sorted(cells, key=lambda k: (k[2].count("≤"), k[2]))))
    rows_ = sorted({k[:2] for k in cells}, key=lambda k: (("trainlib", "plain", "published").index(k[0]), k[1]))
    name = dict(trainlib=recipe, plain="plain 300 ep", published="published 1500 ep")
    def cell(x):
        if x is None: return ""
        snaps = x.get("snapshot_test_accuracy")
        return f"{x['test_accuracy']:.4f}" + (f" ({', '.join(f'{a:.4f}' for a in snaps)})" if snaps else "")
    lines = ["| protocol | seed | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    lines += [f"| {name[p]} | {s} | " + " | ".join(cell(cells.get((p, s, c))) for c in cols) + " |" for p, s in rows_]
    for p in dict.fromkeys(k[0] for k in rows_):
        counts = [(c, [x["test_accuracy"] for k, x in cells.items() if k[0] == p and k[2] == c]) for c in cols]
        lines.append(f"\n{name[p]}: runs at 1.0000 / runs: " + "; ".join(f"{c} {sum(a == 1.0 for a in accs)}/{len(accs)}" for c, accs in counts if accs))
    lines.append(f"\n{len(cells)} runs from {files} result files; {recipe} cells: the ensemble's accuracy (its snapshots' own).")
    return "\n".join(lines)


def _replace(text, start, end, body):
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{body}\n{end}{tail}"

def _fill(text, marker, body):
    "`text` with the block between `<!-- marker:start -->` and `<!-- marker:end -->` replaced by `body()`, if it has that block."
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    return _replace(text, start, end, body()) if start in text else text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=RESULTS); p.add_argument("--readme", type=Path, default=HERE/"README.md")
    p.add_argument("--include-smoke", action="store_true", help="also the *_smoke results (the smoke test checks every script's row)")
    a = p.parse_args(argv)
    table = "\n".join(["| benchmark | result | command | date | machine |", "|---|---|---|---|---|", *rows(a.results, a.include_smoke)])
    text = a.readme.read_text() if a.readme.is_file() else f"# Benchmark results in {a.results}\n\n{START}\n{END}\n\n{ACC_START}\n{ACC_END}\n"
    text = _replace(text, START, END, table)
    text = _fill(text, "accuracy", lambda: accuracy_table(a.results, a.include_smoke))
    for marker, name in ACC_ROUNDS.items(): text = _fill(text, marker, lambda: accuracy_table(a.results, name=name))
    for marker, prefix in WALLCLOCK_ROUNDS.items(): text = _fill(text, marker, lambda: wallclock_table(a.results, prefix))
    for marker, (d, m, pats, *label) in VARIANT_ROUNDS.items(): text = _fill(text, marker, lambda: variants_table(a.results, d, m, pats, *label))
    a.readme.write_text(text)
    print(table)


if __name__ == "__main__": main()
