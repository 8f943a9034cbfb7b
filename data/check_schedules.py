"""Check data/schedules.txt against the `lr` column of every shipped curve.

Independent mini-implementation of the schedule-spec formulas (numpy only;
it does not import lrlaw).  For every RUN=SPEC line it evaluates the spec at
each logged row's step and compares with the CSV's `lr`:

    python data/check_schedules.py

Prints the max relative and absolute error per file and exits non-zero if an
MPL file is off by more than 1e-12 (relative) or a 124M run by more than
1e-15 (absolute) outside the known exception (stable, step 50000: the
training code logs the final factor 0 there, see schedules.txt).
"""

import csv
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_value(s):
    s = s.strip()
    if s.startswith("["):
        return [float(x) for x in s[1:-1].split(",") if x.strip()]
    try:
        return float(s)
    except ValueError:
        return s


def parse_spec(spec):
    family, _, rest = spec.partition(":")
    kw, depth, cur = {}, 0, ""
    for ch in rest + ",":
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            if cur.strip():
                k, _, v = cur.partition("=")
                kw[k.strip()] = parse_value(v)
            cur = ""
        else:
            cur += ch
    return family.strip(), kw


def read_schedules(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            run, _, spec = line.partition("=")
            assert run not in out, run
            out[run.strip()] = parse_spec(spec.strip())
    return out


def lr_at(family, kw, t):
    t = np.asarray(t, dtype=float)
    peak = kw["peak"]
    W = kw.get("warmup", 0.0)
    ws = kw.get("warmup_start", 0.0)
    T = kw["total"]
    final = kw.get("final", 0.0)
    if family == "constant":
        main = np.full_like(t, peak)
    elif family in ("cosine", "linear"):
        p = np.clip((t - W) / (T - W), 0.0, 1.0)
        if family == "cosine":
            main = final + (peak - final) * (1 + np.cos(np.pi * p)) / 2
        else:
            main = final + (peak - final) * (1 - p)
    elif family == "wsd":
        if "decay_start" in kw:
            D = kw["decay_start"]
        else:
            D = T - round(kw["decay_frac"] * T)
        q = np.clip((t - D) / (T - D), 0.0, 1.0)
        shape = kw.get("shape", "linear")
        if shape == "linear":
            dec = final + (peak - final) * (1 - q)
        elif shape == "cosine":
            dec = final + (peak - final) * (1 + np.cos(np.pi * q)) / 2
        elif shape == "sqrt":
            dec = final + (peak - final) * (1 - np.sqrt(q))
        elif shape == "square":
            dec = final + (peak - final) * (1 - q**2)
        elif shape == "exp":
            dec = peak * (final / peak) ** q
        else:
            raise ValueError(shape)
        main = np.where(t < D, peak, dec)
    elif family == "multistep":
        main = np.full_like(t, peak)
        for m, v in zip(kw["milestones"], kw["values"]):
            main = np.where(t >= m, v, main)
    else:
        raise ValueError(family)
    if W > 0:
        warm = ws + (peak - ws) * t / W
        return np.where(t < W, warm, main)
    return main


def read_lr(path):
    steps, lrs = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["lr"] != "":
                steps.append(int(row["step"]))
                lrs.append(float(row["lr"]))
    return np.array(steps), np.array(lrs)


def main():
    sched = read_schedules(os.path.join(HERE, "schedules.txt"))
    ok = True
    files = []
    for size in ("25m", "100m"):
        for name in sorted(os.listdir(os.path.join(HERE, "mpl", size))):
            files.append(("mpl", os.path.join("mpl", size, name)))
    canon = os.path.join("schaipp-124m", "canonical")
    for name in sorted(os.listdir(os.path.join(HERE, canon))):
        files.append(("124m", os.path.join(canon, name)))
    for kind, rel in files:
        run = os.path.splitext(os.path.basename(rel))[0]
        if run not in sched:
            print(f"{rel:<40s} no spec (use the CSV's lr as is)")
            continue
        family, kw = sched[run]
        t, lr = read_lr(os.path.join(HERE, rel))
        want = lr_at(family, kw, t)
        abs_err = np.abs(want - lr)
        denom = np.maximum(np.abs(lr), np.abs(want))
        rel_err = np.divide(abs_err, denom, out=np.zeros_like(abs_err), where=denom > 0)
        msg = f"{rel:<40s} n={len(t):4d} max rel {rel_err.max():.2e}  max abs {abs_err.max():.2e}"
        if kind == "mpl":
            ok &= bool(rel_err.max() <= 1e-12)
        else:
            known = (run == "stable") & (t == kw["total"])
            if known.any():
                msg += (
                    f"  | excl. step {kw['total']} (logged {float(lr[known][0])!r}): "
                    f"max abs {abs_err[~known].max():.2e}"
                )
            ok &= bool(abs_err[~known].max() <= 1e-15)
        print(msg)
    # the spec lines must all belong to a shipped curve
    stems = {os.path.splitext(os.path.basename(r))[0] for _, r in files}
    extra = set(sched) - stems
    if extra:
        print("specs without a curve:", sorted(extra))
        ok = False
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
