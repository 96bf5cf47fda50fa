"""UCI regression benchmark: Boston housing and diabetes, against published results.

The protocol of Deep Ensembles (Lakshminarayanan et al., NIPS 2017), after
Hernandez-Lobato & Adams (ICML 2015):

- 20 random 90/10 train/test splits (split `i` permutes the rows with seed `i`);
- X and y standardised on the training split (scikit-learn's `StandardScaler`);
- one hidden layer of 50 units, 40 epochs, batch size 100, Adam;
- test NLL (nats) and RMSE in the original units of y, reported as the mean
  and standard error over the splits.

Our network: `Dense(50)` -> `BetaSoftplus` (learned beta) -> `NormalHead`,
trained with `NormalNLL`; the head's scale starts flat at the residual scale
of a linear fit (standardised units). "Single network" figures are the
average over the 5 members of each ensemble (each trained independently: its
own initialisation and data order, disjoint weights), and "ensemble (M=5)" is
the equal-weight mixture of the 5 members' Normals
(`keras_softplus.distributions.as_mixture`). No adversarial training.
Baselines: the same network with one linear output trained with MSE (sigma:
RMS of its training residuals), and ordinary least squares.

Boston's "B" column (`black` in `data/boston.csv`) encodes a racial
statistic; every Boston result is reported with and without it (see
`data/README.md`).

Usage, from the repository root:

    python benchmarks/uci/uci_benchmark.py --quick   # smoke run: 2 splits, 5 epochs
    python benchmarks/uci/uci_benchmark.py           # writes benchmarks/uci/results.md
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import keras_softplus as ks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results.md")

B_COLUMN_NOTE = (
    'The Boston data\'s "B" column (`black`) encodes a racial statistic, '
    "1000*(Bk - 0.63)**2 with Bk the proportion of Black residents by town; it "
    "is ethically problematic. It is kept only to compare with published numbers, "
    "and every result is also reported without it (see benchmarks/uci/data/README.md)."
)
PUBLISHED_BOSTON = [  # name, RMSE, NLL, as reported in the papers
    ("Deep Ensembles (M=5), Lakshminarayanan et al. 2017", 3.28, 2.41),
    ("PBP, Hernandez-Lobato & Adams 2015", 3.01, 2.57),
    ("MC-dropout, Gal & Ghahramani 2016", 2.97, 2.46),
    ("NGBoost, Duan et al. 2020", 2.94, 2.43),
]
METHODS = {
    "ours_single": "ours, single network (BetaSoftplus + NormalHead)",
    "ours_ensemble": "ours, ensemble M=5 (mixture of Normals)",
    "homoscedastic_single": "homoscedastic network (MSE, residual sigma)",
    "ols": "ordinary least squares (residual sigma)",
}


def load_boston(drop_b=False):
    """`(x, y)` from `data/boston.csv`; `y` is `medv`; no network access."""
    path = os.path.join(HERE, "data", "boston.csv")
    with open(path) as f:
        names = f.readline().strip().split(",")
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    features = [n for n in names if n != "medv" and not (drop_b and n == "black")]
    return table[:, [names.index(n) for n in features]], table[:, names.index("medv")]


def load_dataset(name):
    """`(x, y)` of "boston", "boston-without-b" or "diabetes" (bundled, offline)."""
    if name == "diabetes":
        return load_diabetes(return_X_y=True)
    return load_boston(drop_b=name == "boston-without-b")


def build_stacked(input_dim, members, hidden, head, initial_scale, initial_beta):
    """`members` independent one-hidden-layer networks in one Keras model.

    Input `(batch, members, input_dim)`: member `m` sees `x[:, m]` (its own
    data order). Output `(batch, members, 2)` (loc, scale) for
    `head="normal"`, `(batch, members, 1)` for `head="mean"`. The members'
    weights are disjoint, so each trains exactly as it would alone.
    """
    inputs = keras.Input((members, input_dim))
    outputs = []
    for m in range(members):
        h = keras.layers.Dense(hidden)(inputs[:, m, :])
        h = ks.BetaSoftplus(beta=initial_beta)(h)
        if head == "normal":
            h = ks.NormalHead(
                initial_scale=initial_scale, scale_kernel_initializer="zeros"
            )(h)
        else:
            h = keras.layers.Dense(1)(h)
        outputs.append(h)
    return keras.Model(inputs, keras.ops.stack(outputs, axis=1))


def member_dataset(x, y, members, batch_size, seed):
    """tf.data of `(batch, members, d)` inputs, each member its own shuffle."""
    parts = [
        tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
            len(x), seed=seed + m, reshuffle_each_iteration=True
        )
        for m in range(members)
    ]

    def stack(*pairs):
        return tuple(tf.stack([p[i] for p in pairs], axis=0) for i in (0, 1))

    return tf.data.Dataset.zip(tuple(parts)).map(stack).batch(batch_size)


def train_split(x_train, y_train, x_test, head, args, seed):
    """Trains the stacked members on one split; `(members, n_test, 2)` outputs.

    The outputs are `(loc, scale)` in the original units of y; for
    `head="mean"`, each member's scale is the RMS of its training residuals.
    """
    x_scaler = StandardScaler().fit(x_train)
    y_scaler = StandardScaler().fit(y_train[:, None])
    x = x_scaler.transform(x_train).astype("float32")
    y = y_scaler.transform(y_train[:, None]).astype("float32")
    keras.utils.set_random_seed(seed)
    linear = LinearRegression().fit(x, y)
    initial_scale = float(np.std(y - linear.predict(x)))
    members = args.members
    model = build_stacked(
        x.shape[1], members, args.hidden, head, initial_scale, args.initial_beta
    )
    if head == "normal":
        loss = ks.losses.NormalNLL(beta_nll=args.beta_nll)
    else:
        loss = "mse"
    model.compile(optimizer=keras.optimizers.Adam(args.lr), loss=loss)
    model.fit(
        member_dataset(x, y, members, args.batch_size, seed),
        epochs=args.epochs,
        shuffle=False,  # each member's data already comes in its own order
        verbose=0,
    )

    def predict(x_new):
        tiled = np.repeat(x_scaler.transform(x_new)[:, None, :], members, axis=1)
        out = model.predict(tiled.astype("float32"), batch_size=4096, verbose=0)
        return np.moveaxis(np.asarray(out, np.float64), 1, 0)  # (M, n, 2 or 1)

    out = predict(x_test)
    std, mean = float(y_scaler.scale_[0]), float(y_scaler.mean_[0])
    locs = out[..., 0] * std + mean
    if head == "normal":
        scales = out[..., 1] * std
    else:
        fitted = predict(x_train)[..., 0] * std + mean
        sigma = np.sqrt(np.mean((fitted - y_train[None]) ** 2, axis=1))
        scales = np.broadcast_to(sigma[:, None], locs.shape)
    return np.stack([locs, scales], axis=-1)


def ols_split(x_train, y_train, x_test):
    """OLS with a Normal predictive of the unbiased residual variance."""
    linear = LinearRegression().fit(x_train, y_train)
    residual = y_train - linear.predict(x_train)
    sigma = math.sqrt(residual @ residual / (len(y_train) - x_train.shape[1] - 1))
    loc = linear.predict(x_test)
    return np.stack([loc, np.full_like(loc, sigma)], axis=-1)[None]


def nll_rmse(y, outputs):
    """(NLL, RMSE) of the equal-weight mixture of `outputs` `(M, n, 2)`."""
    mixture = ks.distributions.as_mixture(list(outputs))
    nll = -float(np.mean(mixture.log_prob(y[:, None])))
    mean = np.asarray(mixture.mean())[:, 0]
    return nll, float(np.sqrt(np.mean((y - mean) ** 2)))


def run_dataset(name, args, log=print):
    """All splits of one data set: `{method: [(nll, rmse) per split]}`."""
    x_all, y_all = load_dataset(name)
    results = {key: [] for key in METHODS}
    for split in range(args.splits):
        perm = np.random.default_rng(split).permutation(len(y_all))
        n_test = int(round(0.1 * len(y_all)))
        test, train = perm[:n_test], perm[n_test:]
        xtr, ytr, xte, yte = x_all[train], y_all[train], x_all[test], y_all[test]
        ours = train_split(xtr, ytr, xte, "normal", args, seed=100 * split)
        members = [nll_rmse(yte, ours[m : m + 1]) for m in range(len(ours))]
        results["ours_single"].append(tuple(np.mean(members, axis=0)))
        results["ours_ensemble"].append(nll_rmse(yte, ours))
        mse = train_split(xtr, ytr, xte, "mean", args, seed=100 * split + 50)
        members = [nll_rmse(yte, mse[m : m + 1]) for m in range(len(mse))]
        results["homoscedastic_single"].append(tuple(np.mean(members, axis=0)))
        results["ols"].append(nll_rmse(yte, ols_split(xtr, ytr, xte)))
        nll, rmse = results["ours_ensemble"][-1]
        log(
            f"  {name} split {split + 1}/{args.splits}: ensemble NLL {nll:.3f}, "
            f"RMSE {rmse:.3f}"
        )
    return results


def mean_se(values):
    values = np.asarray(values, dtype=np.float64)
    se = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return values.mean(), se


def results_table(title, results, published=()):
    """Markdown table: method, RMSE, NLL (mean ± standard error)."""
    lines = [f"**{title}**", "", "| method | RMSE | NLL |", "|---|---|---|"]
    for key, name in METHODS.items():
        nll, nll_se = mean_se([r[0] for r in results[key]])
        rmse, rmse_se = mean_se([r[1] for r in results[key]])
        lines.append(
            f"| {name} | {rmse:.2f} ± {rmse_se:.2f} | {nll:.2f} ± {nll_se:.2f} |"
        )
    for name, rmse, nll in published:
        lines.append(f"| *published:* {name} | {rmse:.2f} | {nll:.2f} |")
    return "\n".join(lines)


DATASETS = {
    "boston": "Boston housing, all 13 features (with B)",
    "boston-without-b": "Boston housing, 12 features, without B",
    "diabetes": "Diabetes (scikit-learn), 10 features",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=50)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    parser.add_argument("--initial-beta", type=float, default=1.0)
    parser.add_argument("--beta-nll", type=float, default=0.0)
    parser.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help="comma-separated subset of " + ",".join(DATASETS),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 splits, 5 epochs (figures not meaningful)",
    )
    parser.add_argument(
        "--markdown",
        default=None,
        help=f"output file (default {RESULTS}; with --quick, "
        "benchmarks/uci/output/results-quick.md)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.splits, args.epochs = 2, 5
    if args.markdown is None:
        args.markdown = (
            os.path.join(HERE, "output", "results-quick.md") if args.quick else RESULTS
        )
    return args


def main(argv=None, log=print):
    args = parse_args(argv)
    command = "python benchmarks/uci/uci_benchmark.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    start = time.time()
    sections = []
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        log(f"\n== {DATASETS[name]}: {args.splits} splits")
        t0 = time.time()
        results = run_dataset(name, args, log)
        table = results_table(
            DATASETS[name], results, PUBLISHED_BOSTON if name == "boston" else ()
        )
        log("\n" + table)
        sections.append(f"{table}\n\n({time.time() - t0:.0f} s)")
    elapsed = time.time() - start
    header = f"""# UCI regression: Boston housing and diabetes

Reproduce (from the repository root, about 15 minutes on 2 CPU cores):

```bash
{command.strip()}
```

Protocol: {args.splits} random 90/10 splits (split i permutes the rows with
seed i); X and y standardised on the training split; one hidden layer of
{args.hidden} units (`Dense` -> `BetaSoftplus`, beta learned from
{args.initial_beta}) -> `NormalHead`, `NormalNLL(beta_nll={args.beta_nll})`;
{args.epochs} epochs, batch {args.batch_size}, Adam (learning rate {args.lr}); no
early stopping, no adversarial training. Mean ± standard error over splits; NLL
in nats and RMSE in the original units of y. "Single network" is the average
over the {args.members} members of each split's ensemble (each trained
independently); "ensemble" is the equal-weight mixture of the {args.members}
members' Normals. The homoscedastic network is the same network with one linear
output trained with MSE, sigma = RMS of its training residuals (average over
{args.members} members).

Published numbers are those reported by the papers (same protocol, all 13 features);
they are not rerun here.

**Ethics.** {B_COLUMN_NOTE}

Total run time: {elapsed:.0f} s.
"""
    text = header + "\n" + "\n\n".join(sections) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
    with open(args.markdown, "w") as f:
        f.write(text)
    log(f"\nResults table: {os.path.abspath(args.markdown)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
