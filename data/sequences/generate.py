"""Generate data/sequences/aptamers.csv: a small synthetic aptamer-like data set (GENERATED, not measured).

Run from the repository root: `python data/sequences/generate.py`. The output is deterministic (numpy seed 7).
"""
import csv
from pathlib import Path

import numpy as np

MOTIF = "GGTTGG"          # the "binding" motif (a fragment of the thrombin-binding aptamer GGTTGGTGTGGTTGG)
N, MIN_LEN, MAX_LEN = 1000, 20, 30

def main(out=Path(__file__).with_name("aptamers.csv"), seed=7):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(N):
        length = int(rng.integers(MIN_LEN, MAX_LEN + 1))
        seq = "".join(rng.choice(list("ACGT"), size=length))
        has_motif = rng.random() < 0.5
        if has_motif:
            pos = int(rng.integers(0, length - len(MOTIF) + 1))
            seq = seq[:pos] + MOTIF + seq[pos + len(MOTIF):]
        has_motif = MOTIF in seq
        gc = (seq.count("G") + seq.count("C")) / len(seq)
        affinity = 2.0 * has_motif + 0.5 * gc + rng.normal(0, 0.1)
        rows.append((f"apt{i:04d}", seq, "binder" if affinity > 1.2 else "nonbinder", f"{affinity:.4f}", f"{gc:.4f}"))
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("id", "sequence", "binder", "affinity", "gc_fraction"))
        w.writerows(rows)
    return out

if __name__ == "__main__": print("wrote", main())
