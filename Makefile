# trainlib: `make demo` sets everything up and runs a real training report; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all test-slow lab export clean-nbs readme docs bench bench-smoke bench-wallclock

# One venv with the package (editable) and the dev tools, and a `trainlib` Jupyter kernel that
# papermill and JupyterLab both use.
$(STAMP): setup.py settings.ini
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The kernel imports TensorFlow quietly as it starts (trainlib.report.install_kernel); registered again when that
# module changes, so an existing venv gets a changed kernel too.
KERNEL := $(VENV)/share/jupyter/kernels/trainlib/kernel.json
$(KERNEL): $(STAMP) trainlib/report.py
	$(BIN)/python -c "from trainlib.report import install_kernel; install_kernel()"
	touch $(KERNEL)

install: $(STAMP) $(KERNEL)

# A real training report on the shipped GunPoint data: dataset -> ResNet -> test evaluation,
# written as an executed notebook + HTML in $(DEMO_DIR)/demo/<run>/ (tests/test_report.py runs it into a temporary folder).
DEMO_DIR ?= runs
demo: install
	$(BIN)/trainlib report train -p config_path nbs/reports/gunpoint_demo.yaml --output-dir $(DEMO_DIR) --experiment demo

# The notebooks' test cells make scratch folders with `tempfile` (datasets, runs, models) and the report notebooks
# default to a temporary output folder: run them in a private TMPDIR, removed when they pass, kept (and named) when
# they fail. pytest manages its own temporary folders.
define in_scratch
scratch=$$(mktemp -d -t trainlib-nbtest-XXXXXX); if TMPDIR=$$scratch $(1); then rm -rf $$scratch; else echo "notebook scratch kept in $$scratch" >&2; exit 1; fi
endef

# Notebook tests (nbdev_test), then pytest; `make test-all` includes the slow ones.
test: install
	$(call in_scratch,$(BIN)/nbdev_test --n_workers 2 --timing)
	$(BIN)/pytest tests

test-all: install
	$(call in_scratch,$(BIN)/nbdev_test --n_workers 2 --flags slow)
	$(BIN)/pytest tests --slow

# Only the slow checks (kill -9, multi-process, full docs build, learning checks): CI runs them after `make test`.
test-slow: install
	$(call in_scratch,sh -c 'for nb in $$(grep -l "#| slow" nbs/*.ipynb nbs/reports/*.ipynb); do $(BIN)/nbdev_test --flags slow --path $$nb || exit 1; done')
	$(BIN)/pytest tests --slow -m slow

# The docs site in _docs/: nbdev_docs where Quarto exists, otherwise trainlib.docs renders the executed,
# nbdev-processed notebooks to static HTML (sidebar, search, API entries, plots).
docs: install
	$(BIN)/python -c "from trainlib.docs import build_docs; print(build_docs('nbs', '_docs'))"

lab: install
	$(BIN)/jupyter lab --notebook-dir=nbs

export: install
	$(BIN)/nbdev_export

clean-nbs: install
	$(BIN)/nbdev_clean

# README.md is generated from nbs/index.ipynb: nbdev_readme where Quarto exists, otherwise nbconvert's
# Markdown of the notebook without its hidden cells.
define README_PY
import nbformat
from nbconvert import MarkdownExporter
nb = nbformat.read("nbs/index.ipynb", as_version=4)
nb.cells = [c for c in nb.cells if not c.source.startswith("#| hide")]
body, _ = MarkdownExporter().from_notebook_node(nb)
body = body.replace("](images/", "](nbs/images/")  # images sit next to the notebook
open("README.md", "w").write("<!-- generated from nbs/index.ipynb by make readme: edit the notebook -->\n\n" + body.strip() + "\n")
endef
export README_PY

readme: install
	if command -v quarto >/dev/null; then $(BIN)/nbdev_readme; else $(BIN)/python -c "$$README_PY"; fi

# Benchmarks write bench/results/*.json and rebuild the table in bench/README.md (see bench/README.md).
bench: install
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/tune_memory.py
	$(BIN)/python bench/tune_memory.py --isolate
	$(BIN)/python bench/grid_memory.py
	$(BIN)/python bench/grid_memory.py --clear-session
	$(BIN)/python bench/grid_memory.py --isolate
	$(BIN)/python bench/etl.py
	$(BIN)/python bench/roofline.py
	$(BIN)/python bench/backends.py
	$(BIN)/python bench/recipe_cv.py --min-lr 1e-4 --cycle-length 100 --name recipe_cv_minlr_1e-4
	$(BIN)/python bench/recipe_cv.py --min-lr 1e-5 --cycle-length 100 --name recipe_cv_minlr_1e-5
	$(BIN)/python bench/recipe_cv.py --merge bench/results/recipe_cv_minlr_1e-4.json bench/results/recipe_cv_minlr_1e-5.json
	$(BIN)/python bench/recipe_cv.py --min-lr 1e-4 --cycle-length 100 --repeat 1 --name recipe_cv_minlr_1e-4_r1
	$(BIN)/python bench/recipe_cv.py --min-lr 1e-4 --cycle-length 100 --repeat 2 --name recipe_cv_minlr_1e-4_r2
	$(BIN)/python bench/recipe_cv.py --merge bench/results/recipe_cv_minlr_1e-4.json bench/results/recipe_cv_minlr_1e-4_r1.json \
		bench/results/recipe_cv_minlr_1e-4_r2.json --name recipe_cv_repeats
	$(BIN)/python bench/recipe_cv.py --min-lr 1e-4 --cycle-length 50 --repeat 0 --name recipe_cv_c50_r0
	$(BIN)/python bench/recipe_cv.py --min-lr 1e-4 --cycle-length 50 --repeat 1 --name recipe_cv_c50_r1
	$(BIN)/python bench/recipe_cv.py --min-lr 1e-4 --cycle-length 50 --repeat 2 --datasets italypowerdemand gunpoint --name recipe_cv_c50_r2_ipd_gp
	$(BIN)/python bench/recipe_cv.py --min-lr 1e-4 --cycle-length 50 --repeat 2 --datasets arrowhead --name recipe_cv_c50_r2_ah
	$(BIN)/python bench/recipe_cv.py --merge bench/results/recipe_cv_minlr_1e-4.json bench/results/recipe_cv_minlr_1e-4_r1.json \
		bench/results/recipe_cv_minlr_1e-4_r2.json bench/results/recipe_cv_c50_r0.json bench/results/recipe_cv_c50_r1.json \
		bench/results/recipe_cv_c50_r2_ipd_gp.json bench/results/recipe_cv_c50_r2_ah.json --against-recipe --name recipe_cv_cycles
	$(BIN)/python bench/recipe_cv.py --min-lr 1e-4 --cycle-length 100 --repeat 3 --name recipe_cv_c100_r3
	$(BIN)/python bench/recipe_cv.py --min-lr 1e-4 --cycle-length 50 --repeat 3 --name recipe_cv_c50_r3
	$(BIN)/python bench/recipe_cv.py --merge bench/results/recipe_cv_minlr_1e-4.json bench/results/recipe_cv_minlr_1e-4_r1.json \
		bench/results/recipe_cv_minlr_1e-4_r2.json bench/results/recipe_cv_c100_r3.json bench/results/recipe_cv_c50_r0.json \
		bench/results/recipe_cv_c50_r1.json bench/results/recipe_cv_c50_r2_ipd_gp.json bench/results/recipe_cv_c50_r2_ah.json \
		bench/results/recipe_cv_c50_r3.json --against-recipe --log-loss-repeats 3 --name recipe_cv_log_loss
	$(BIN)/python bench/accuracy.py
	$(MAKE) bench-wallclock
	$(BIN)/python bench/table.py

# The wall-clock half of issue 9's item 3, with nothing else running on the machine: seed 0 of each (set, model), the recipe
# and the plain 300-epoch run in one process, then the other order in a fresh process (recipe, plain, plain, recipe).
# The committed accuracy_alone_* files ran at 0c5f997 (tf.data autotuning on); accuracy_notune_* are
# WALLCLOCK_NAME=accuracy_notune WALLCLOCK_PAIRS="gunpoint:fcn italypowerdemand:fcn italypowerdemand:resnet" after it was turned off,
# then the same with WALLCLOCK_PAIRS="arrowhead:fcn arrowhead:resnet gunpoint:resnet" (at 107fa70).
WALLCLOCK_PAIRS ?= arrowhead:fcn arrowhead:resnet gunpoint:fcn gunpoint:resnet italypowerdemand:fcn italypowerdemand:resnet
WALLCLOCK_NAME ?= accuracy_alone
WALLCLOCK_RECIPE ?= nbs/reports/ucr_recipe.yaml
bench-wallclock: install
	for p in $(WALLCLOCK_PAIRS); do d=$${p%:*}; m=$${p#*:}; \
	  $(BIN)/python bench/accuracy.py --protocol trainlib plain --recipe $(WALLCLOCK_RECIPE) --datasets $$d --models $$m --seeds 0 --name $(WALLCLOCK_NAME)_$${d}_$${m}_a && \
	  $(BIN)/python bench/accuracy.py --protocol plain trainlib --recipe $(WALLCLOCK_RECIPE) --datasets $$d --models $$m --seeds 0 --name $(WALLCLOCK_NAME)_$${d}_$${m}_b || exit 1; \
	done

# The same scripts at toy size (checks they run; CI runs this through tests/test_bench.py): results and their table go to
# $(BENCH_SMOKE_DIR), never over the real results in bench/results.
BENCH_SMOKE_DIR ?= bench/smoke-results
bench-smoke: export TRAINLIB_BENCH_RESULTS = $(abspath $(BENCH_SMOKE_DIR))
bench-smoke: install
	$(BIN)/python bench/overhead.py --smoke
	$(BIN)/python bench/tune_memory.py --smoke
	$(BIN)/python bench/tune_memory.py --smoke --isolate
	$(BIN)/python bench/grid_memory.py --smoke
	$(BIN)/python bench/etl.py --smoke
	$(BIN)/python bench/roofline.py --smoke
	$(BIN)/python bench/backends.py --smoke
	$(BIN)/python bench/recipe_cv.py --smoke
	$(BIN)/python bench/accuracy.py --smoke
	$(BIN)/python bench/table.py --include-smoke --results $(abspath $(BENCH_SMOKE_DIR)) --readme $(abspath $(BENCH_SMOKE_DIR))/README.md
