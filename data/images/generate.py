"""Render scikit-learn's bundled digits as 8x8 PNG images with a synthetic multi-label table.

Run from the repository root: `python data/images/generate.py`. Deterministic (no randomness).
"""
import csv
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sklearn.datasets import load_digits

HERE = Path(__file__).parent
PER_DIGIT = 30  # first 30 images of each digit: 300 images, ~100 KB

def labels_of(digit: int) -> list[str]:
    "Synthetic multi-label annotation: the digit, its parity, and 'loop' for digits drawn with a closed loop."
    out = [f"digit_{digit}", "even" if digit % 2 == 0 else "odd"]
    if digit in (0, 6, 8, 9): out.append("loop")
    return out

def main():
    digits = load_digits()
    folder = HERE/"varkodes"
    folder.mkdir(exist_ok=True)
    rows = []
    for d in range(10):
        for k, i in enumerate(np.flatnonzero(digits.target == d)[:PER_DIGIT]):
            sample = f"d{d}_{k:02d}"
            img = np.uint8(np.rint(digits.images[i] / 16 * 255))   # 0..16 grey levels -> 0..255
            info = PngInfo()
            info.add_text("varkoderKeywords", ";".join(labels_of(d)))
            info.add_text("varkoderLowQualityFlag", "False")
            sub = folder/f"digit_{d}"
            sub.mkdir(exist_ok=True)
            Image.fromarray(img, mode="L").save(sub/f"{sample}@00010K+varKode+k7.png", pnginfo=info)
            rows.append((sample, ";".join(labels_of(d))))
    with open(HERE/"labels.csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow(["sample", "labels"]); w.writerows(rows)

if __name__ == "__main__": main()
