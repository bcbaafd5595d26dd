"""Shared by the benchmarks: machine facts, package versions, and writing one result JSON."""
import atexit, datetime, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

RESULTS = Path(os.environ.get("TRAINLIB_BENCH_RESULTS") or Path(__file__).resolve().parent/"results")   # tests redirect it


def scratch_dir(name: str, keep: bool = False) -> Path:
    "A new temporary folder for a benchmark's datasets and runs, removed when the process exits (also after an error or Ctrl+C) unless `keep`."
    path = Path(tempfile.mkdtemp(prefix=f"trainlib-{name}-"))
    if keep: atexit.register(print, f"datasets and runs kept in {path}", file=sys.stderr)
    else: atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def rss_mib() -> float:
    "Resident memory of this process now, MiB (Linux /proc)."
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    "Peak resident memory of this process so far, MiB."
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> dict:
    "Cores, memory, CPU (model, vector instruction sets, the variables that limit them), Python and package versions."
    import importlib.metadata as md
    from trainlib.train import cpu_facts         # the facts every trainlib run records in env.json
    mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal:")), None)
    versions = {}
    for p in ("trainlib", "keras", "tensorflow-cpu", "tensorflow", "keras-tuner", "jax", "numpy", "h5py"):
        try: versions[p] = md.version(p)
        except md.PackageNotFoundError: pass
    try: load = os.getloadavg()[0]
    except OSError: load = None
    return dict(cores=os.cpu_count(), memory_mib=mem, python=sys.version.split()[0], load_at_start=load,
                keras_backend=os.environ.get("KERAS_BACKEND", "tensorflow"), packages=versions, **cpu_facts())


def write_result(name: str, data: dict, quiet: bool = False) -> Path:
    "Write `results/<name>.json` with the machine, the command line and the time."
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = dict(benchmark=name, command=" ".join([Path(sys.executable).name, *sys.argv]),
               date=datetime.datetime.now().isoformat(timespec="seconds"), machine=machine(), **data)
    path = RESULTS/f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n"); os.replace(tmp, path)
    if not quiet: print(json.dumps({k: v for k, v in out.items() if k != "machine"}, indent=2))
    return path


def epoch_timer():
    "A keras callback whose `seconds` lists each epoch's wall seconds (keras is imported only when this is called)."
    import keras
    class EpochTimer(keras.callbacks.Callback):
        def __init__(self): super().__init__(); self.seconds = []
        def on_epoch_begin(self, epoch, logs=None): self._t = time.perf_counter()
        def on_epoch_end(self, epoch, logs=None): self.seconds.append(time.perf_counter() - self._t)
    return EpochTimer()


def steady_seconds(seconds: list, warmup: int) -> float:
    "Median epoch seconds after the first `warmup` epochs (tracing, compilation, first-touch allocations)."
    rest = seconds[warmup:] or seconds[-1:]
    return statistics.median(rest)
