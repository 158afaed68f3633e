"""Writes examples/data/penguins.csv: the Palmer penguins (Gorman, Williams and Fraser 2014;
CC0, see examples/data/README.md) as numbers only, for the `tabular` example.

Source: `penguins.csv` inside the PyPI package `palmerpenguins` 0.1.6 (the file's SHA-256 is
checked below). Text columns become numbers: `species` a class index (0 Adelie, 1 Chinstrap,
2 Gentoo), `island` three 0/1 columns, `sex` 0 female / 1 male. The 11 rows with a missing
value (NA) are dropped, leaving 333.

Run from the project root, with the package's wheel unpacked or installed:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install palmerpenguins==0.1.6 --no-deps
    /tmp/venv/bin/python tools/make_penguins_csv.py
"""
import csv
import hashlib
import importlib.util
import os

SHA256 = "f204db2c753b0937caac3cb35258562c14f073e4bbc76be24b4c51ce22767a93"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "data", "penguins.csv")
SPECIES = ["Adelie", "Chinstrap", "Gentoo"]
ISLANDS = ["Biscoe", "Dream", "Torgersen"]


def main():
    package = os.path.dirname(importlib.util.find_spec("palmerpenguins").origin)
    source = os.path.join(package, "data", "penguins.csv")
    raw = open(source, "rb").read()
    assert hashlib.sha256(raw).hexdigest() == SHA256, "not the penguins.csv of palmerpenguins 0.1.6"
    rows = list(csv.DictReader(raw.decode().splitlines()))
    header = ["species", "island_biscoe", "island_dream", "island_torgersen", "bill_length_mm",
              "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex_male", "year"]
    kept = []
    for r in rows:
        if "NA" in r.values():
            continue
        kept.append([SPECIES.index(r["species"])] + [int(r["island"] == i) for i in ISLANDS] + [
            r["bill_length_mm"], r["bill_depth_mm"], r["flipper_length_mm"], r["body_mass_g"],
            int(r["sex"] == "male"), r["year"]])
    with open(OUT, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(kept)
    print(f"wrote {OUT}: {len(kept)} of {len(rows)} rows")


if __name__ == "__main__":
    main()
