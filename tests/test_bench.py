"""`make bench-smoke`: every benchmark script runs at toy size, writes its result JSON (machine, packages, command)
into the folder it is pointed at, and `bench/table.py` turns every result into a table row.

The numbers of a smoke run mean nothing (toy sizes, a busy machine); these tests check the scripts and the record
each writes, so a change to trainlib that breaks a benchmark fails here instead of in the next `make bench`.
"""
import json, os, subprocess, sys
from pathlib import Path

import pytest

from conftest import ROOT

SMOKE = ["overhead_smoke", "tune_memory_smoke", "tune_memory_isolated_smoke", "grid_memory_one_process_smoke", "etl_smoke", "roofline_smoke",
         "backends_smoke", "recipe_cv_smoke", "accuracy_smoke"]


# Set for the smoke run (TensorFlow's own default on x86 Linux, so the run computes as without it): every record must
# name it among the variables that change a run's rounding.
NUMERICS_SET = {"TF_ENABLE_ONEDNN_OPTS": "1"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    "Run `make bench-smoke` into a temporary folder once; return the folder."
    out, scratch = tmp_path_factory.mktemp("bench-smoke"), tmp_path_factory.mktemp("bench-scratch")
    before = {p: p.stat().st_mtime_ns for p in (ROOT/"bench"/"results").glob("*")}
    r = subprocess.run(["make", "--no-print-directory", "bench-smoke", f"BENCH_SMOKE_DIR={out}"], cwd=ROOT,
                       capture_output=True, text=True, timeout=1500,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(scratch), **NUMERICS_SET})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    left = sorted(p.name for p in scratch.glob("trainlib-*"))
    assert not left, f"benchmarks left their datasets and runs behind: {left}"
    after = {p: p.stat().st_mtime_ns for p in (ROOT/"bench"/"results").glob("*")}
    assert after == before, "bench-smoke touched the committed results in bench/results"
    return out


@pytest.mark.slow
def test_every_script_writes_its_record(smoke):
    import trainlib
    cpu_flags = set(next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), []))
    for name in SMOKE:
        f = smoke/f"{name}.json"
        assert f.is_file(), f"no {f.name} in {sorted(p.name for p in smoke.iterdir())}"
        r = json.loads(f.read_text())
        assert r["benchmark"] == name
        script = name.removesuffix("_smoke").removesuffix("_isolated").removesuffix("_one_process") + ".py"
        assert script in r["command"] and "--smoke" in r["command"], r["command"]
        m = r["machine"]
        assert m["cores"] == os.cpu_count() and m["memory_mib"] > 0 and m["python"]
        assert m["packages"]["trainlib"] == trainlib.__version__ and "keras" in m["packages"]
        assert m["numerics_env"].items() >= NUMERICS_SET.items(), m["numerics_env"]
        assert set(m["vector_isa"]) <= cpu_flags and (m["vector_isa"] or not cpu_flags & {"sse4_2", "avx"}), m["vector_isa"]


@pytest.mark.slow
def test_smoke_measurements_are_sane(smoke):
    "The measured quantities exist and are physical (positive rates, ratios, accuracies in [0, 1])."
    load = lambda n: json.loads((smoke/f"{n}.json").read_text())
    o = load("overhead_smoke")
    assert all(v > 0 for v in o["samples_per_second_median"].values()) and o["ratio_trainlib_vs_plain"] > 0
    for n in ("tune_memory_smoke", "tune_memory_isolated_smoke"):
        t = load(n)
        assert t["rss_mib_after_n"] > 0 and t["trial_seconds_median"] > 0 and t["trials"] == 4
    assert load("tune_memory_isolated_smoke")["isolate"] is True
    g = load("grid_memory_one_process_smoke")
    assert g["trainings"] == 4 and g["rss_mib_after_2"] > 0 and g["seconds_per_training"] > 0 and g["mode"] == "one_process"
    e = load("etl_smoke")
    assert [s["rows"] for s in e["sizes"]] == [2000, 8000]
    assert all(s["rows_per_second"] > 0 and s["peak_rss_mib"] > 0 for s in e["sizes"]) and e["rss_growth_ratio"] > 0
    rf = load("roofline_smoke")
    assert rf["matmul_gflops"] > 0
    for row in rf["results"]:
        assert set(row["steady_fraction_of_matmul"]) == {"plain_keras", "trainlib", "trainlib_fast"}
        assert all(0 < v for v in row["steady_fraction_of_matmul"].values()) and row["forward_mflops_per_sample"] > 0
    b = load("backends_smoke")
    assert b["ratio_jax_vs_tensorflow_fit"] > 0
    cv = load("recipe_cv_smoke")
    assert len(cv["records"]) == 4 and {r["min_lr"] for r in cv["records"]} == {1e-4, 1e-5}
    assert all(0 <= v <= 1 for r in cv["records"] for v in r["heldout_accuracy"].values())
    assert {(c["min_lr"], c["snapshots"]) for c in cv["candidates"]} == {(lr, k) for lr in (1e-4, 1e-5) for k in (1, 2, 3)}
    assert (cv["chosen"]["min_lr"], cv["chosen"]["snapshots"]) in {(c["min_lr"], c["snapshots"]) for c in cv["candidates"]}
    a = load("accuracy_smoke")
    assert len(a["runs"]) == 6 and all(0 <= x["test_accuracy"] <= 1 and x["fit_seconds"] > 0 for x in a["runs"])
    assert {x["protocol"] for x in a["runs"]} == {"published", "trainlib", "plain"}
    assert all(x["snapshots"] for x in a["runs"] if x["protocol"] == "trainlib"), "the recipe's snapshot ensemble was not built"


@pytest.mark.slow
def test_table_has_a_row_per_result(smoke):
    table = (smoke/"README.md").read_text()
    for name in SMOKE: assert f"| {name} |" in table, f"no row for {name}:\n{table}"
    acc = table.split("<!-- accuracy:start -->")[1]
    assert "| italypowerdemand | fcn |" in acc and "| italypowerdemand | resnet |" in acc, acc


def test_merge_keeps_the_named_protocols(tmp_path):
    "`accuracy.py --merge a.json b.json:plain` joins all of a's runs with only b's plain runs, and summarises them."
    run = lambda protocol, acc: dict(protocol=protocol, dataset="gunpoint", model="fcn", seed=0, epochs=3, batch_size=5,
                                     test_accuracy=acc, fit_seconds=1.0)
    part = lambda *runs: json.dumps(dict(command="x", date="d", settings={}, machine={}, runs=list(runs)))
    (tmp_path/"a.json").write_text(part(run("trainlib", 0.9)))
    (tmp_path/"b.json").write_text(part(run("trainlib", 0.1), run("plain", 0.8), run("published", 0.7)))
    r = subprocess.run([sys.executable, str(ROOT/"bench/accuracy.py"), "--merge", str(tmp_path/"a.json"), f"{tmp_path/'b.json'}:plain",
                        "--name", "merged"], capture_output=True, text=True, env={**os.environ, "TRAINLIB_BENCH_RESULTS": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((tmp_path/"merged.json").read_text())
    assert sorted((x["protocol"], x["test_accuracy"]) for x in m["runs"]) == [("plain", 0.8), ("trainlib", 0.9)]
    assert {(x["protocol"], x["accuracy_mean"]) for x in m["summary"]} == {("plain", 0.8), ("trainlib", 0.9)}
    bad = subprocess.run([sys.executable, str(ROOT/"bench/accuracy.py"), "--merge", f"{tmp_path/'b.json'}:plian"], capture_output=True,
                         text=True, env={**os.environ, "TRAINLIB_BENCH_RESULTS": str(tmp_path)})
    assert bad.returncode != 0 and "unknown protocol in 'plian'" in bad.stderr


def _bench(module:str):
    "Import a script of bench/ as a module."
    import importlib, sys
    if str(ROOT/"bench") not in sys.path: sys.path.insert(0, str(ROOT/"bench"))
    return importlib.import_module(module)


def test_published_protocol_drops_the_recipe_snapshots():
    "The published protocol is built on the recipe file but is one model on reduce-on-plateau: no snapshot ensemble."
    accuracy = _bench("accuracy")
    from trainlib.config import load_config
    recipe = load_config(accuracy.RECIPE)
    assert recipe.lr_scheduler.sgdr.snapshots > 0
    cfg = accuracy.published_config(recipe, "fcn", 50, 1500)
    assert (cfg.lr_scheduler.type, cfg.lr_scheduler.sgdr.snapshots, cfg.train.batch_size) == ("reduce_lr_on_plateau", 0, 5)


@pytest.mark.parametrize("seed", [0, 1])
def test_cv_folds_split_the_training_file_only(tmp_path, seed):
    "`recipe_cv.split_file`: the held-out folds partition the UCR training file, stratified, and each fold's training part is the rest."
    import csv
    src = ROOT/"data/arrowhead/train.csv"
    rows = lambda p: list(csv.reader(open(p, newline="")))
    every = rows(src)
    pairs = _bench("recipe_cv").split_file(src, 3, tmp_path/"a", seed)
    held = [rows(h) for _, h in pairs]
    other = _bench("recipe_cv").split_file(src, 3, tmp_path/"b", 1 - seed)                   # another repeat: another split
    assert [r[0] for r in held[0][1:]] != [r[0] for r in rows(other[0][1])[1:]]
    assert all(h[0] == every[0] for h in held)
    assert sorted(r[0] for h in held for r in h[1:]) == sorted(r[0] for r in every[1:])       # each series held out exactly once
    for (fit, _), h in zip(pairs, held):
        f = rows(fit)
        assert f[0] == every[0] and not {r[0] for r in f[1:]} & {r[0] for r in h[1:]}
        assert sorted(map(tuple, f[1:] + h[1:])) == sorted(map(tuple, every[1:]))          # rows copied unchanged
        counts = [sum(r[1] == c for r in h[1:]) for c in ("0", "1", "2")]
        assert max(counts) - min(counts) <= 1, counts                                       # ArrowHead: 12 of each class


def test_cv_rule_picks_the_best_mean_and_breaks_ties_toward_more_snapshots():
    choose = _bench("recipe_cv").choose
    rec = lambda lr, d, accs: dict(dataset=d, model="fcn", min_lr=lr, fold=0, n_heldout=10,
                                   heldout_accuracy={str(k): a for k, a in enumerate(accs, 1)})
    rs = [rec(1e-4, "a", [0.5, 0.9, 0.8]), rec(1e-4, "b", [0.5, 0.9, 0.8]), rec(1e-5, "a", [0.5, 0.6, 0.7]), rec(1e-5, "b", [0.5, 0.6, 0.7])]
    assert choose(rs)["chosen"] == dict(cycle_length=100, min_lr=1e-4, snapshots=2, mean=0.9)    # records without a cycle length: 100
    rs[0]["heldout_accuracy"]["3"] = rs[1]["heldout_accuracy"]["3"] = 0.899                  # within the tie margin: more snapshots win
    assert choose(rs)["chosen"]["snapshots"] == 3
    tie = [rec(lr, "a", [0.5, 0.5, 0.9]) for lr in (1e-4, 1e-5)]                               # and then the higher floor
    assert choose(tie)["chosen"]["min_lr"] == 1e-4
    assert {(c["min_lr"], c["snapshots"]) for c in choose(rs[:3])["candidates"]} == {(1e-4, k) for k in (1, 2, 3)}  # 1e-5 lacks pair b


def test_cv_rule_against_the_recipe_changes_it_only_for_a_margin():
    "`choose(records, incumbent)`: the recipe stays unless a candidate's mean beats it by the tie margin; then the best such, more snapshots on a tie."
    choose = _bench("recipe_cv").choose
    rec = lambda cycle, d, accs: dict(dataset=d, model="fcn", min_lr=1e-4, cycle_length=cycle, fold=0, n_heldout=100,
                                      heldout_accuracy={str(k): a for k, a in enumerate(accs, 1)})
    old = [dict(rec(100, d, [0.90, 0.90, 0.89]), cycle_length=None) for d in "ab"]
    for r in old: del r["cycle_length"]                                                      # older records: cycles of 100
    close = [rec(50, d, [0.85, 0.902, 0.90, 0.88, 0.88, 0.88]) for d in "ab"]                 # best 0.902: within the margin
    out = choose(old + close, incumbent=(100, 1e-4, 2))
    assert out["chosen"] == dict(cycle_length=100, min_lr=1e-4, snapshots=2, mean=0.9) and out["incumbent"]["snapshots"] == 2
    assert choose(old + close)["chosen"]["cycle_length"] == 50                                 # the plain rule: the tie goes to more snapshots
    far = [rec(50, d, [0.85, 0.91, 0.95, 0.949, 0.90, 0.88]) for d in "ab"]                   # k = 3 and 4 beat it, tied with each other
    assert choose(old + far, incumbent=(100, 1e-4, 2))["chosen"] == dict(cycle_length=50, min_lr=1e-4, snapshots=4, mean=0.949)
    with pytest.raises(ValueError, match="not scored"): choose(far, incumbent=(100, 1e-4, 2))
    edge = [rec(50, d, [0.85, 0.9254, 0.90, 0.88, 0.88, 0.88]) for d in "ab"]                 # exactly 0.0025 above 0.9229: it wins
    base = [rec(100, d, [0.90, 0.9229, 0.89]) for d in "ab"]                                  # (0.9254 - 0.9229 < 0.0025 in floats)
    assert choose(base + edge, incumbent=(100, 1e-4, 2))["chosen"]["cycle_length"] == 50
    edge = [rec(50, d, [0.85, 0.9253, 0.90, 0.88, 0.88, 0.88]) for d in "ab"]                 # 0.0024 above: the recipe stays
    assert choose(base + edge, incumbent=(100, 1e-4, 2))["chosen"]["cycle_length"] == 100


def test_cv_rule_compares_only_the_same_folds_and_refuses_a_fold_twice():
    "Against the recipe, a candidate scored on other (set, model, repeat, fold)s does not compete; a fold scored twice is an error."
    choose = _bench("recipe_cv").choose
    rec = lambda cycle, d, repeat, acc: dict(dataset=d, model="fcn", min_lr=1e-4, cycle_length=cycle, repeat=repeat, fold=0, n_heldout=100,
                                             heldout_accuracy={"1": acc, "2": acc})
    old = [rec(100, d, r, a) for d in "ab" for r, a in ((0, 0.95), (1, 0.90), (2, 0.90))]
    part = [rec(50, d, 0, 0.95) for d in "ab"]                                                 # repeat 0 only: 0.95 against 0.9167 pooled
    out = choose(old + part, incumbent=(100, 1e-4, 2))
    assert out["chosen"]["cycle_length"] == 100 and {c["cycle_length"] for c in out["candidates"]} == {50, 100}
    with pytest.raises(ValueError, match="scored twice"): choose(old + old[:1])


def test_cv_log_loss_rule_guards_accuracy_then_needs_a_margin():
    "`choose(records, incumbent, loss_repeats)`: accuracy over every repeat as a guard, then log loss over the named repeats, 0.01 lower to change."
    choose = _bench("recipe_cv").choose
    def recs(cycle, accs, losses, repeat, n=100):
        return [dict(dataset=d, model="fcn", min_lr=1e-4, cycle_length=cycle, repeat=repeat, fold=0, n_heldout=n,
                     heldout_accuracy={str(k): a for k, a in enumerate(accs, 1)},
                     heldout_log_loss={str(k): x for k, x in enumerate(losses, 1)}) for d in "ab"]
    inc = recs(100, [0.9, 0.9, 0.9], [0.35, 0.30, 0.295], 0) + recs(100, [0.9, 0.9, 0.9], [0.35, 0.30, 0.295], 3)
    pick = lambda ch: choose(inc + ch, incumbent=(100, 1e-4, 2), loss_repeats=[3])["chosen"]
    assert pick([])["snapshots"] == 2                                                         # its own k = 3 is only 0.005 lower
    early = recs(50, [0.9] * 3, [0.01] * 3, 0)                                               # repeat 0's log loss is not judged
    assert pick(early + recs(50, [0.9] * 3, [0.40, 0.2901, 0.35], 3))["cycle_length"] == 100   # 0.0099 lower: the recipe stays
    out = pick(early + recs(50, [0.9] * 3, [0.40, 0.29, 0.35], 3))                              # 0.01 lower: it changes
    assert out == dict(cycle_length=50, min_lr=1e-4, snapshots=2, mean=0.9, log_loss=0.29)
    # the accuracy guard: the lowest log loss (k = 3) is 0.0025 below the recipe's accuracy, so the next (k = 2) is picked
    ch = recs(50, [0.9, 0.9, 0.9], [0.4, 0.25, 0.1], 0) + recs(50, [0.9, 0.9, 0.895], [0.4, 0.25, 0.1], 3)
    assert pick(ch)["snapshots"] == 2
    ch = recs(50, [0.9, 0.9, 0.9], [0.4, 0.25, 0.1], 0) + recs(50, [0.9, 0.9, 0.8952], [0.4, 0.25, 0.1], 3)
    assert pick(ch)["snapshots"] == 3                                                          # 0.0024 below: a tie, it stays in
    # a candidate without repeat 3 does not compete, and equal log losses go to more snapshots
    assert pick(early)["cycle_length"] == 100
    assert pick(early + recs(50, [0.9] * 3, [0.2, 0.2, 0.2], 3))["snapshots"] == 3
    assert pick(recs(50, [0.9] * 3, [0.295] * 3, 0) + recs(50, [0.9] * 3, [0.295] * 3, 3))["cycle_length"] == 100  # then longer cycles
    short = recs(50, [0.9] * 3, [0.01] * 3, 3)                                   # scored on repeat 3 only, not on the recipe's folds
    assert pick(short)["cycle_length"] == 100
    assert pick(recs(50, [0.99] * 3, [0.29] * 3, 0) + recs(50, [0.99] * 3, [0.29] * 3, 3))["cycle_length"] == 50  # far above: in
    # each pair counts: pair a's log loss 0.18 and pair b's 0.40 average 0.29, 0.01 below the recipe's 0.30
    uneven = early + recs(50, [0.9] * 3, [0.4, 0.18, 0.4], 3)
    uneven[-1]["heldout_log_loss"]["2"] = 0.40
    assert pick(uneven)["log_loss"] == 0.29 and pick(uneven[:-1] + [dict(uneven[-1], heldout_log_loss={"1": 0.4, "2": 0.41, "3": 0.4})])["cycle_length"] == 100
    with pytest.raises(ValueError, match="incumbent"): choose(inc, loss_repeats=[3])
    bare = recs(50, [0.9] * 3, [0.2] * 3, 3)
    for r in bare: del r["heldout_log_loss"]
    with pytest.raises(ValueError, match="no held-out log loss"): pick(early + bare)
    gap = recs(50, [0.9] * 3, [0.2] * 3, 3)
    del gap[1]["heldout_log_loss"]["2"]                                           # one k without its log loss on one fold
    with pytest.raises(ValueError, match="every k"): pick(early + gap)


def test_cv_log_loss_is_pooled_over_held_out_series():
    "Each pair's log loss is the mean over all its held-out series in the named repeats: folds weigh by their size."
    pooled = _bench("recipe_cv").pooled_log_loss
    rec = lambda fold, n, loss, repeat=3: dict(dataset="a", model="fcn", min_lr=1e-4, cycle_length=50, repeat=repeat, fold=fold,
                                                 n_heldout=n, heldout_log_loss={"1": loss})
    out = pooled([rec(0, 10, 0.1), rec(1, 30, 0.5), rec(2, 99, 9.0, repeat=0)], [3])
    assert out == {(50, 1e-4, 1): {("a", "fcn"): pytest.approx(0.4)}}


def test_table_row_of_the_log_loss_rule_names_both_measures(tmp_path):
    "`table.py` writes a log-loss merge's pick with its log loss and repeats; the parts of repeat 3 are not rows of their own."
    table = _bench("table")
    machine = dict(cores=2, memory_mib=4096, load_at_start=0.1)
    cand = lambda c, k, acc, loss: dict(cycle_length=c, min_lr=1e-4, snapshots=k, mean=acc, log_loss=loss)
    merged = dict(benchmark="recipe_cv_log_loss", command="cmd", date="d", machine=machine, log_loss_repeats=[3],
                  records=[dict(repeat=r) for r in (0, 3)], incumbent=dict(cycle_length=100, min_lr=1e-4, snapshots=2),
                  candidates=[cand(100, 2, 0.9229, 0.31), cand(50, 5, 0.9216, 0.28)], chosen=cand(50, 5, 0.9216, 0.28))
    (tmp_path/"recipe_cv_log_loss.json").write_text(json.dumps(merged))
    (tmp_path/"recipe_cv_c100_r3.json").write_text(json.dumps(dict(merged, benchmark="recipe_cv_c100_r3")))
    rows = list(table.rows(tmp_path))
    assert len(rows) == 1 and "| recipe_cv_log_loss |" in rows[0], rows
    assert "average of the last 5 snapshots (mean held-out accuracy 0.9216, log loss 0.28 over repeat 3)" in rows[0]
    assert "cycles of 100, 0.0001/2: 0.9229, log loss 0.31" in rows[0]


def test_shorten_recipe_keeps_the_cycles_and_caps_the_snapshots():
    "`accuracy.shorten_recipe`: the SGDR cycles shrink by the same factor (also when each cycle is longer than the last), and the snapshots never exceed the cycles that end."
    accuracy = _bench("accuracy")
    from trainlib.config import load_config
    from trainlib.train import sgdr_cycle_ends
    recipe = load_config(accuracy.RECIPE)
    ends = lambda c: sgdr_cycle_ends(c.train.max_epochs, c.lr_scheduler.sgdr.cycle_length, c.lr_scheduler.sgdr.mult_factor)
    for cfg in (recipe, recipe.update({"lr_scheduler.sgdr.cycle_length": 50, "lr_scheduler.sgdr.mult_factor": 2.0})):
        short = accuracy.shorten_recipe(cfg, 30)
        assert (short.train.max_epochs, short.train.patience) == (30, 31)
        assert len(ends(short)) == len(ends(cfg))                                                # 3 cycles of 10; cycles of 5 and 10
        assert short.lr_scheduler.sgdr.snapshots == cfg.lr_scheduler.sgdr.snapshots
    assert accuracy.shorten_recipe(recipe, 2).lr_scheduler.sgdr.snapshots <= len(ends(accuracy.shorten_recipe(recipe, 2)))


def test_wallclock_table_pairs_each_recipe_run_with_its_plain_run(tmp_path):
    "`table.wallclock_table`: a row per (set, model, order), ratio = recipe fit s / plain fit s; a file missing a protocol is left out."
    table = _bench("table")
    run = lambda protocol, d, s, acc: dict(protocol=protocol, dataset=d, model="fcn", seed=0, test_accuracy=acc, fit_seconds=s)
    def part(name, protocols, *runs):
        (tmp_path/f"accuracy_alone_{name}.json").write_text(json.dumps(dict(
            settings=dict(protocols=protocols), machine=dict(cpu="cpu X", load_at_start=0.1), runs=list(runs))))
    part("gp_a", ["trainlib", "plain"], run("trainlib", "gunpoint", 30.0, 1.0), run("plain", "gunpoint", 60.0, 0.98))
    part("gp_b", ["plain", "trainlib"], run("plain", "gunpoint", 50.0, 0.98), run("trainlib", "gunpoint", 40.0, 1.0))
    part("ah_a", ["trainlib", "plain"], run("trainlib", "arrowhead", 10.0, 0.8))           # cut short: no plain run
    rows = table.wallclock_table(tmp_path).splitlines()
    assert rows[2:4] == ["| gunpoint | fcn | recipe, then plain | 30.0 | 60.0 | 0.50 | 1.0 | 0.98 |",
                         "| gunpoint | fcn | plain, then recipe | 40.0 | 50.0 | 0.80 | 1.0 | 0.98 |"]
    assert "2 recipe/plain pairs; ratio 0.50 to 0.80, mean 0.65; CPU: cpu X" in rows[-1]
    assert not any("arrowhead" in r for r in rows)
    assert table.wallclock_table(tmp_path, prefix="nothing_").startswith("(no nothing_*.json")


def test_variants_table_puts_each_cpu_and_instruction_set_limit_in_its_column(tmp_path):
    "`table.variants_table`: a row per (protocol, seed) of one (set, model), a column per CPU and `--xla_cpu_max_isa` limit; `:plain` keeps one protocol."
    table = _bench("table")
    run = lambda protocol, seed, acc, **kw: dict(protocol=protocol, dataset="gunpoint", model="fcn", seed=seed, test_accuracy=acc, **kw)
    def part(name, cpu, env, *runs):
        (tmp_path/f"{name}.json").write_text(json.dumps(dict(machine=dict(cpu=cpu, numerics_env=env), runs=list(runs))))
    part("amd", "AMD EPYC", None, run("trainlib", 1, 0.9867, snapshot_test_accuracy=[0.9867, 0.9933]),
         dict(run("trainlib", 1, 0.5), model="resnet"))                                   # another model: left out
    part("isa_avx_s1", "Intel(R) Xeon(R) Processor", {"XLA_FLAGS": "--xla_cpu_max_isa=AVX"}, run("trainlib", 1, 0.9933))
    part("intel", "Intel(R) Xeon(R) Processor", {}, run("trainlib", 1, 1.0), run("plain", 1, 0.99))
    part("old", "Intel(R) Xeon(R) Processor", {}, run("plain", 2, 0.98), run("trainlib", 2, 0.1))  # an older recipe's round
    rows = table.variants_table(tmp_path, "gunpoint", "fcn", ("amd.json", "intel.json", "isa_*.json", "old.json:plain")).splitlines()
    assert rows[0] == "| protocol | seed | AMD EPYC | Intel Xeon | Intel Xeon, XLA ≤ AVX |"
    assert rows[2:5] == ["| recipe | 1 | 0.9867 (0.9867, 0.9933) | 1.0000 | 0.9933 |",
                         "| plain 300 ep | 1 |  | 0.9900 |  |", "| plain 300 ep | 2 |  | 0.9800 |  |"]
    assert "recipe: runs at 1.0000 / runs: AMD EPYC 0/1; Intel Xeon 1/1; Intel Xeon, XLA ≤ AVX 0/1" in rows
    assert "0.1000" not in "\n".join(rows) and "0.5000" not in "\n".join(rows)
    assert table.variants_table(tmp_path, "arrowhead", "fcn", ("*.json",)).startswith("(no arrowhead fcn runs")
    named = table.variants_table(tmp_path, "gunpoint", "fcn", ("amd.json",), recipe="4 cycles").splitlines()
    assert named[2] == "| 4 cycles | 1 | 0.9867 (0.9867, 0.9933) |" and "4 cycles: runs at 1.0000 / runs: AMD EPYC 0/1" in named
    assert named[-1].endswith("4 cycles cells: the ensemble's accuracy (its snapshots' own).")


@pytest.mark.slow
def test_pipeline_teardown_times_each_pipeline_with_autotuning_on_and_off(tmp_path):
    "The diagnostic behind trainlib's `finish_pipeline`: every fit recorded, both settings, for the pipelines asked."
    r = subprocess.run([sys.executable, "bench/pipeline_teardown.py", "--runs", "1", "--epochs", "2", "--pipelines", "store", "feedforward",
                        "--name", "teardown"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TRAINLIB_BENCH_RESULTS": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-3000:]
    rec = json.loads((tmp_path/"teardown.json").read_text())
    assert "pipeline_teardown.py" in rec["command"] and rec["machine"]["cores"] >= 1
    assert [(f["pipeline"], f["autotune"]) for f in rec["fits"]] == [("store", True), ("store", False), ("feedforward", True), ("feedforward", False)]
    assert all(f["fit"] >= f["epochs"] > 0 and f["after_end"] >= 0 for f in rec["fits"]), rec["fits"]
    assert set(rec["fits_with_a_stall_over_half_a_second"]) == {"store autotune on", "store autotune off", "feedforward autotune on", "feedforward autotune off"}
