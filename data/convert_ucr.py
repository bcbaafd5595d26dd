"""Convert UCR sets bundled in the aeon 1.6.0 wheel into Capfinder's signal CSV format (as data/gunpoint/).

python data/convert_ucr.py WHEEL NAME OUT_DIR   e.g.
python data/convert_ucr.py aeon-1.6.0-py3-none-any.whl ArrowHead data/arrowhead

Reads aeon/datasets/data/<NAME>/<NAME>_{TRAIN,TEST}.ts straight from the wheel (a zip), writes OUT_DIR/train.csv
and OUT_DIR/test.csv: header `read_id,cap_class,timeseries`, read_id `<NAME>_<split>_<index:04d>`, cap_class the
UCR label, timeseries one quoted field of comma-joined floats (Python repr), CRLF line ends. The values are copied
as they are in the archive (no normalisation here). Reproduces data/gunpoint/ byte for byte.
"""
import csv, io, os, sys, zipfile
from pathlib import Path


def read_ts(text:str, name:str) -> list[tuple[str, list[float]]]:
    "Rows (label, values) of a univariate, equal-length .ts file."
    rows, data = [], False
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"): continue
        if not data:
            if line.lower() == "@data": data = True
            continue
        *series, label = line.split(":")
        if len(series) != 1: raise ValueError(f"{name} line {n}: expected one dimension and a label, got {len(series)} dimensions")
        rows.append((label, [float(v) for v in series[0].split(",")]))
    if not rows: raise ValueError(f"{name}: no @data rows")
    return rows


def write_csv(path:Path, name:str, split:str, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(["read_id", "cap_class", "timeseries"])
    for i, (label, values) in enumerate(rows):
        w.writerow([f"{name}_{split}_{i:04d}", label, ",".join(repr(v) for v in values)])
    tmp = path.with_suffix(".tmp"); tmp.write_text(buf.getvalue(), newline=""); os.replace(tmp, path)


def convert(wheel, name:str, out) -> dict:
    "Write `out`/train.csv and test.csv for UCR set `name` from the aeon `wheel`; return counts."
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    counts = {}
    with zipfile.ZipFile(wheel) as z:
        for split in ("train", "test"):
            member = f"aeon/datasets/data/{name}/{name}_{split.upper()}.ts"
            rows = read_ts(z.read(member).decode(), member)
            write_csv(out/f"{split}.csv", name, split, rows)
            counts[split] = dict(n=len(rows), length=sorted({len(v) for _, v in rows}), classes=sorted({l for l, _ in rows}))
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 4: sys.exit(__doc__)
    print(convert(*sys.argv[1:]))
