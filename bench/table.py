"""Regenerate the results table in bench/README.md from bench/results/*.json."""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
START, END = "<!-- results:start -->", "<!-- results:end -->"
ACC_START, ACC_END = "<!-- accuracy:start -->", "<!-- accuracy:end -->"


def rows():
    for f in sorted((HERE/"results").glob("*.json")):
        if f.stem.endswith("_smoke"): continue     # toy sizes: they check the scripts run, their numbers mean nothing
        if f.stem.startswith("accuracy_"): continue  # one protocol's part of a run; `accuracy.py --merge` joins them into accuracy.json
        r = json.loads(f.read_text())
        m = r["machine"]
        where = f"{m['cores']} cores, {m['memory_mib'] // 1024} GiB, load {m.get('load_at_start')}"
        if r["benchmark"].startswith("overhead"):
            s = r["samples_per_second_median"]
            what = (f"{r['model']} bs {r['batch_size']}, {r['epochs']} ep × {r['repeats']}: plain {s['plain_keras']}/s, "
                    f"trainlib {s['trainlib']}/s (×{r['ratio_trainlib_vs_plain']}), fast {s['trainlib_fast']}/s (×{r['ratio_trainlib_fast_vs_plain']})")
        elif r["benchmark"].startswith("tune_memory"):
            what = (f"RSS {r['rss_mib_after_2']} MiB after 2 trials, {r['rss_mib_after_n']} after {r['trials']} "
                    f"(×{r['rss_ratio']}, target ≤ {r['target_ratio']}); {r['overhead_seconds_per_trial_median']} s/trial beyond fit")
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
            what = f"matmul {r['matmul_size']}² float32 {r['matmul_gflops']} GFLOP/s; " + "; ".join(
                f"{x['model']} bs {x['batch_size']} ({x['forward_mflops_per_sample']} MFLOP/sample fwd): "
                + ", ".join(f"{k} {x['training_gflops'][k]} GFLOP/s ({100 * v:.0f} %)" for k, v in x["fraction_of_matmul"].items())
                for x in r["results"])
        elif r["benchmark"].startswith("accuracy"):
            gaps = {}
            for x in r["summary"]: gaps.setdefault(x["protocol"], []).append(x["gap"])
            what = (f"{len(r['runs'])} runs; mean test-accuracy gap to the published figure: "
                    + ", ".join(f"{p} protocol {sum(g) / len(g):+.3f} over {len(g)} (set, model) pairs" for p, g in gaps.items())
                    + "; per set in the accuracy table below" + (" (incomplete)" if r.get("complete") is False else ""))
        else: what = ", ".join(f"{k}={v}" for k, v in r.items() if isinstance(v, (int, float, str)) and k not in ("command", "date"))
        yield f"| {r['benchmark']} | {what} | `{r['command']}` | {r['date']} | {where} |"


def _acc(x):
    return f"{x['accuracy_mean']}" + (f" ± {x['accuracy_std']}" if x.get("accuracy_std") is not None else "")


def accuracy_table():
    "One row per (dataset, model): each protocol's test accuracy and fit seconds beside the published figure."
    f = HERE/"results"/"accuracy.json"
    if not f.is_file(): return "(no bench/results/accuracy.json yet)"
    r = json.loads(f.read_text())
    cells = {(x["dataset"], x["model"], x["protocol"]): x for x in r["summary"]}
    lines = ["| dataset | model | published (Fawaz et al. 2019, 10 runs) | published protocol: acc, fit s (epochs, batch, seeds) "
             "| trainlib recipe: acc, fit s (epochs, batch, seeds) |", "|---|---|---|---|---|"]
    for d, m in sorted({k[:2] for k in cells}):
        any_ = cells.get((d, m, "published")) or cells[(d, m, "trainlib")]
        col = lambda x: "not run" if x is None else f"{_acc(x)}, {x['fit_seconds_mean']} s ({x['epochs']} ep, bs {x['batch_size']}, seeds {x['seeds']})"
        lines.append(f"| {d} | {m} | {any_['published_mean']} ± {any_['published_std']} | {col(cells.get((d, m, 'published')))} "
                     f"| {col(cells.get((d, m, 'trainlib')))} |")
    return "\n".join(lines)


def _replace(text, start, end, body):
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{body}\n{end}{tail}"


def main():
    table = "\n".join(["| benchmark | result | command | date | machine |", "|---|---|---|---|---|", *rows()])
    readme = HERE/"README.md"
    text = readme.read_text()
    text = _replace(text, START, END, table)
    if ACC_START in text: text = _replace(text, ACC_START, ACC_END, accuracy_table())
    readme.write_text(text)
    print(table)


if __name__ == "__main__": main()
