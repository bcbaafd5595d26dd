"""Generate the synthetic NeatMS-style peak tables in this folder (see README.md). Run: python generate.py"""
import csv
import numpy as np
from scipy.stats import exponnorm

LABELS = ("High_quality", "Low_quality", "Noise")


def emg(t, centre, sigma, tau):
    "Exponentially modified Gaussian peak shape (height about 1), tailing to the right by `tau`."
    shape = exponnorm.pdf(t, max(tau, 1e-3) / sigma, loc=centre - tau, scale=sigma)
    return shape / max(shape.max(), 1e-300)


def one_peak(rng, label, scan_s, width_s, tail, noise_floor):
    "rt (s), intensity and the detected peak bounds of one feature of class `label`."
    width = rng.uniform(*width_s)                       # peak base width in seconds
    n_scans = int(np.ceil(3 * width / scan_s)) + rng.integers(0, 6)
    t0 = rng.uniform(60, 900)
    rt = t0 + scan_s * np.arange(n_scans) + rng.normal(0, 0.02 * scan_s, n_scans)
    rt.sort()
    start, end = rt[0] + width, rt[0] + 2 * width       # the detector's bounds: middle third of the window
    centre, sigma = (start + end) / 2, width / 5
    height = 10 ** rng.uniform(4, 7)
    baseline = noise_floor * height * rng.uniform(0.5, 1.5)
    noise = rng.normal(0, 1, n_scans)
    if label == "High_quality":
        y = height * emg(rt, centre, sigma, tail * sigma) + baseline + 0.02 * height * noise
    elif label == "Low_quality":
        kind = rng.integers(3)
        if kind == 0:    # low signal-to-noise
            y = height * emg(rt, centre, sigma, tail * sigma) + baseline + 0.3 * height * noise
        elif kind == 1:  # split peak / shoulder
            shift = rng.uniform(0.6, 1.2) * 2 * sigma * rng.choice([-1, 1])
            y = height * (emg(rt, centre, sigma, tail * sigma) + rng.uniform(0.5, 0.9) * emg(rt, centre + shift, sigma, tail * sigma)) + baseline + 0.05 * height * noise
        else:            # bounds cut the peak: apex off-centre, near a boundary
            off = rng.uniform(0.4, 0.6) * width * rng.choice([-1, 1])
            y = height * emg(rt, centre + off, sigma, tail * sigma) + baseline + 0.08 * height * noise
    else:                # noise: baseline with random spikes, no peak
        y = baseline + 0.15 * height * np.abs(noise)
        spikes = rng.random(n_scans) < 0.08
        y[spikes] += height * rng.uniform(0.2, 1.0, spikes.sum())
    return rt, np.clip(y, 0, None), start, end


def write(path, n_per_class, seed, prefix, **instrument):
    "Write `n_per_class` peaks of each label to `path`."
    rng = np.random.default_rng(seed)
    rows = []
    for label in LABELS:
        for _ in range(n_per_class):
            rt, y, s, e = one_peak(rng, label, **instrument)
            rows.append((label, rt, y, s, e))
    order = rng.permutation(len(rows))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["peak_id", "label", "rt_start", "rt_end", "rt", "intensity"])
        for i, k in enumerate(order):
            label, rt, y, s, e = rows[k]
            w.writerow([f"{prefix}{i:04d}", label, f"{s:.3f}", f"{e:.3f}",
                        ",".join(f"{v:.2f}" for v in rt), ",".join(f"{v:.4g}" for v in y)])


if __name__ == "__main__":
    # instrument A: 0.5 s scans, 6-15 s wide peaks, mild tailing, low baseline
    write("peaks.csv", 150, seed=0, prefix="A", scan_s=0.5, width_s=(6, 15), tail=0.3, noise_floor=0.01)
    # instrument B: slower scans, narrower and more tailing peaks, higher baseline (the transfer target)
    write("peaks_b.csv", 40, seed=1, prefix="B", scan_s=0.9, width_s=(4, 9), tail=1.0, noise_floor=0.08)
