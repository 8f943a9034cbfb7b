"""Derive the canonical ``step,lr,loss`` CSVs of the 124M W&B runs.

Reads the five shipped W&B exports next to this script and writes
``canonical/{stable,cosine,wsd-0.2-linear,wsd-0.2-sqrt,wsd-0.994-linear}.csv``.
Standard library only; deterministic and idempotent (re-running rewrites
byte-identical files).  Run from anywhere:

    python data/schaipp-124m/make_canonical.py

What it does (see data/README.md, "Derived files"):

* lr   <- history.train.iter / history.train.train_lr  (every 50 steps)
* loss <- history.val.iter   / history.val.val_loss    (every 200 steps)
  ``summary`` and ``history.final-val`` are never used (different eval set).
* Resumed runs repeat an ``iter`` in their histories; the LAST value in list
  order wins (that is the value of the resumed trajectory that continues).
* A row at step 0 carries the scheduler's initial LR, 1e-5 for all five runs.
  This is not trusted from the config: the asserts below check that the
  logged warmup values are reproduced exactly by
    - wsd scheduler runs: 1e-3 * (0.01 + 0.99 * t/300)     (linear from 1e-5)
    - cosine run: torch OneCycleLR, cos warmup over 299 steps,
      1e-3 + (1e-5 - 1e-3)/2 * (1 + cos(pi t/299))          (starts at 1e-5)
* The cooldown files ann124-0.2*-lr0.001.json hold only steps 40000-50000;
  their first 40000 steps are the constant run stable-124m-lr0.001.json (they
  were resumed from its checkpoint 40000, see config.resume_from).  Joined
  curve: rows with step < 40000 from the stable run, rows with step >= 40000
  from the cooldown file.  The cooldown file logs no train_lr at step 40000
  (its first train row is 40050); the lr of the step-40000 row is taken from
  the stable run (1e-3), which is also the value of the cooldown schedule at
  its decay start (asserted).
  Step-40000 val loss: the stable run and both cooldown files report the
  bitwise-identical value 3.1182916164398193 (asserted below), as expected
  for an eval of the same checkpoint.

Output: header ``step,lr,loss``; integer steps, ascending, one row per step;
floats written with repr() (full precision); an empty field where a step has
only an lr or only a loss; "\\n" line endings.
"""

import csv
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "canonical")

PEAK = 1e-3
INIT_LR = 1e-5  # = PEAK / 100, verified against the logged warmup below
WARMUP = 300
TOTAL = 50000
JOIN = 40000  # cooldown files start here

STABLE = "stable-124m-lr0.001.json"
COSINE = "cos-zero-124m-lr0.001.json"
COOL_LIN = "ann124-0.2-lr0.001.json"
COOL_SQRT = "ann124-0.2sqrt-lr0.001.json"
FULL_0994 = "ann124-0.994-lr0.001.json"


def load(name):
    with open(os.path.join(HERE, name)) as f:
        run = json.load(f)
    return run


def last_wins(iters, values):
    """Map step -> value; for repeated steps the last one in list order wins."""
    assert len(iters) == len(values), (len(iters), len(values))
    out = {}
    for i, v in zip(iters, values):
        assert isinstance(i, int) and not isinstance(i, bool), i
        assert isinstance(v, (int, float)) and math.isfinite(v), (i, v)
        out[i] = float(v)
    return out


def lr_and_loss(run):
    tr, va = run["history"]["train"], run["history"]["val"]
    return last_wins(tr["iter"], tr["train_lr"]), last_wins(va["iter"], va["val_loss"])


def close(a, b, rel=1e-12):
    return abs(a - b) <= rel * max(abs(a), abs(b))


def check_config(run, scheduler, decay_type=None, fract=None):
    c = run["config"]
    assert c["lr"] == PEAK and c["warmup_steps"] == WARMUP, c
    assert c["iterations"] == TOTAL and c["scheduler"] == scheduler, c
    if decay_type is not None:
        assert c["decay_type"] == decay_type and c["wsd_fract_decay"] == fract, c
        assert c["wsd_final_lr_scale"] == 0, c


def check_linear_warmup(lr):
    """wsd-scheduler warmup: linear from INIT_LR to PEAK over WARMUP steps."""
    assert lr[50] == 0.000175, lr[50]  # 1e-3 * (0.01 + 0.99 * 50/300)
    logged = [t for t in lr if t < WARMUP]
    assert logged == [50, 100, 150, 200, 250], logged
    for t in logged:
        want = INIT_LR + (PEAK - INIT_LR) * t / WARMUP
        assert close(lr[t], want), (t, lr[t], want)
    assert lr[WARMUP] == PEAK, lr[WARMUP]


def check_cosine_warmup(lr):
    """OneCycleLR (anneal_strategy='cos', div_factor=100): the warmup phase
    ends at step 299 = 0.006*50000 - 1 and starts at PEAK/100 = INIT_LR."""
    w = WARMUP - 1
    logged = [t for t in lr if t <= w]
    assert logged == [50, 100, 150, 200, 250], logged
    for t in logged:
        want = PEAK + (INIT_LR - PEAK) / 2 * (1 + math.cos(math.pi * t / w))
        assert close(lr[t], want), (t, lr[t], want)
    assert 7.67e-5 < lr[50] < 7.68e-5, lr[50]  # far below the linear 1.75e-4


def build(lr, loss, lr0=INIT_LR):
    assert 0 not in lr, "a logged lr at step 0 would make the added row ambiguous"
    rows = {0: [lr0, None]}
    for t, v in lr.items():
        rows.setdefault(t, [None, None])[0] = v
    for t, v in loss.items():
        rows.setdefault(t, [None, None])[1] = v
    return rows


def join(stable_rows, cool_lr, cool_loss):
    assert min(cool_lr) > JOIN and min(cool_loss) == JOIN, (min(cool_lr), min(cool_loss))
    rows = {t: list(r) for t, r in stable_rows.items() if t < JOIN}
    # the cooldown starts at the decay start: its LR at step 40000 is the peak,
    # the same value the stable run logs there
    assert stable_rows[JOIN][0] == PEAK
    rows[JOIN] = [stable_rows[JOIN][0], None]
    for t, v in cool_lr.items():
        rows.setdefault(t, [None, None])[0] = v
    for t, v in cool_loss.items():
        rows.setdefault(t, [None, None])[1] = v
    return rows


def fmt(x):
    return "" if x is None else repr(x)


def write(name, rows):
    path = os.path.join(OUT, name)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["step", "lr", "loss"])
        for t in sorted(rows):
            lr, loss = rows[t]
            assert lr is not None or loss is not None, t
            w.writerow([t, fmt(lr), fmt(loss)])
    return path


def main():
    os.makedirs(OUT, exist_ok=True)

    stable, cosine = load(STABLE), load(COSINE)
    cool_lin, cool_sqrt, full = load(COOL_LIN), load(COOL_SQRT), load(FULL_0994)
    check_config(stable, "wsd", "sqrt", 0)  # wsd with a 0% decay = constant
    check_config(cosine, "cos")
    check_config(cool_lin, "wsd", "linear", 0.2)
    check_config(cool_sqrt, "wsd", "sqrt", 0.2)
    check_config(full, "wsd", "linear", 0.994)
    for c in (cool_lin, cool_sqrt):
        src = c["config"]["resume_from"]
        assert "/stable-124m-" in src and src.endswith(f"/ckpts/{JOIN}"), src

    s_lr, s_loss = lr_and_loss(stable)
    c_lr, c_loss = lr_and_loss(cosine)
    l_lr, l_loss = lr_and_loss(cool_lin)
    q_lr, q_loss = lr_and_loss(cool_sqrt)
    f_lr, f_loss = lr_and_loss(full)

    check_linear_warmup(s_lr)
    check_linear_warmup(f_lr)
    check_cosine_warmup(c_lr)

    # same checkpoint evaluated by the stable run and by both cooldown runs
    assert s_loss[JOIN] == l_loss[JOIN] == q_loss[JOIN] == 3.1182916164398193

    stable_rows = build(s_lr, s_loss)
    outputs = {
        "stable.csv": stable_rows,
        "cosine.csv": build(c_lr, c_loss),
        "wsd-0.2-linear.csv": join(stable_rows, l_lr, l_loss),
        "wsd-0.2-sqrt.csv": join(stable_rows, q_lr, q_loss),
        "wsd-0.994-linear.csv": build(f_lr, f_loss),
    }
    for name, rows in outputs.items():
        steps = sorted(rows)
        assert steps[0] == 0 and steps[-1] == TOTAL, (name, steps[0], steps[-1])
        assert all(t % 50 == 0 for t in steps), name
        path = write(name, rows)
        n_lr = sum(r[0] is not None for r in rows.values())
        n_loss = sum(r[1] is not None for r in rows.values())
        print(f"{os.path.relpath(path, HERE)}: {len(rows)} rows ({n_lr} lr, {n_loss} loss)")


if __name__ == "__main__":
    main()
