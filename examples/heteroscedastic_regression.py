# %% [markdown]
# # Heteroscedastic regression with a learned softplus scale
#
# On the data of TFP's "Probabilistic Layers Regression" tutorial, `Dense` and
# `BetaSoftplus` layers end in a `NormalHead` (a loc and a softplus-positive
# scale per input) trained with `NormalNLL`. We compare the test NLL with the
# best achievable and with a constant-variance model, check calibration and
# build a deep ensemble with `as_mixture`.
#
# Run it with `python examples/heteroscedastic_regression.py` (about 2 minutes
# on 2 CPU cores; `--quick` makes a smoke run). It prints its scores and saves
# its figure to `output/` beside this file.

# %% [markdown]
# ## Setup

# %%
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import integrate  # noqa: E402
from scipy import stats  # noqa: E402

import keras_softplus as ks  # noqa: E402

QUICK = "--quick" in sys.argv[1:]
# The figure goes to output/ beside this script (beside the notebook in Jupyter).
SCRIPT = globals().get("__file__", "heteroscedastic_regression.py")
OUTPUT = os.path.join(os.path.dirname(os.path.abspath(SCRIPT)), "output")
MEMBERS = 5
EPOCHS = 2 if QUICK else 100
keras.utils.set_random_seed(0)

# %% [markdown]
# ## The data
#
# The tutorial's generator: x uniform on [-20, 60], a wavy mean, and Gaussian
# noise whose standard deviation grows from 0.75 to 3.75 across the range.
# 150 training points, and a large independent test draw.


# %%
def true_mean(x):
    return 0.125 * x * (1 + np.sin(x)) + 5.0


def true_scale(x):
    return 3.0 * (0.25 + ((x + 20) / 80) ** 2)


def sample(n, rng):
    x = rng.uniform(-20, 60, size=(n, 1))
    return x, true_mean(x) + true_scale(x) * rng.standard_normal((n, 1))


rng = np.random.default_rng(0)
x_train, y_train = sample(150, rng)
x_test, y_test = sample(2_000 if QUICK else 10_000, rng)

# %% [markdown]
# No model beats the true density on average: its expected NLL is the mean
# entropy of the noise. The best constant-variance model (the true mean, one
# sigma) scores the entropy of one Normal of the mean variance. By quadrature:

# %%
best = integrate.quad(lambda x: stats.norm.entropy(scale=true_scale(x)), -20, 60)
best_nll = best[0] / 80
mean_variance = integrate.quad(lambda x: true_scale(x) ** 2, -20, 60)[0] / 80
best_constant_nll = float(stats.norm.entropy(scale=np.sqrt(mean_variance)))

# %% [markdown]
# ## The model
#
# A `Normalization` layer standardises x; we standardise y by hand and map the
# predictions back. The first `Dense` layer's random slopes and offsets spread
# its bends over the data; each `BetaSoftplus` learns how sharply it bends. The
# `NormalHead` starts with a flat scale (`scale_kernel_initializer="zeros"`), so
# the first steps fit the mean under a sensible scale.

# %%
y_mean, y_std = float(y_train.mean()), float(y_train.std())


def build_model():
    normalize = keras.layers.Normalization()
    normalize.adapt(x_train)
    model = keras.Sequential(
        [
            keras.Input((1,)),
            normalize,
            keras.layers.Dense(
                256,
                kernel_initializer=keras.initializers.RandomNormal(stddev=3.0),
                bias_initializer=keras.initializers.RandomUniform(-6.0, 6.0),
            ),
            ks.BetaSoftplus(beta=5.0),
            keras.layers.Dense(256),
            ks.BetaSoftplus(beta=5.0),
            ks.NormalHead(scale_kernel_initializer="zeros"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=ks.losses.NormalNLL(beta_nll=0.5),
        metrics=[
            ks.metrics.NormalNLLMetric(),
            ks.metrics.NormalMeanRMSE(),
            ks.metrics.NormalCRPS(),
        ],
    )
    return model


# %% [markdown]
# `NormalNLL(beta_nll=0.5)` is beta-NLL (Seitzer et al., 2022): it weights each
# point's NLL by its predicted standard deviation, so noisy points still pull on
# the mean.
#
# ## Training a deep ensemble
#
# Network k of 5 trains on four fifths of the points and stops early on the
# fifth fold k, keeping its best weights. An epoch is 100 shuffled copies of
# the data, in batches of 120.

# %%
folds = np.array_split(rng.permutation(len(x_train)), MEMBERS)
y_scaled = (y_train - y_mean) / y_std
members, residuals, scales = [], [], []
stop = keras.callbacks.EarlyStopping(patience=20, restore_best_weights=True)
for k, fold in enumerate(folds):
    print(f"\nNetwork {k + 1} of {MEMBERS}")
    train = np.setdiff1d(np.arange(len(x_train)), fold)
    model = build_model()
    model.fit(
        np.repeat(x_train[train], 100, axis=0),
        np.repeat(y_scaled[train], 100, axis=0),
        batch_size=120,
        epochs=EPOCHS,
        validation_data=(x_train[fold], y_scaled[fold]),
        callbacks=[stop],
        verbose=2,
    )
    loc, scale = np.split(model.predict(x_train[fold], verbose=0), 2, axis=-1)
    residuals.append(y_scaled[fold] - loc)
    scales.append(scale)
    members.append(model)

# %% [markdown]
# ## Calibrating a single network
#
# A network that fits 120 points also shrinks its scale on them, so on new
# data its errors are larger than it predicts. The held-out folds measure by how
# much: pooled over the five networks, every training point is scored once by a
# network that did not train on it. We choose the one factor for the scale whose
# central intervals cover these held-out points at their nominal levels.

# %%
z = np.abs(np.concatenate(residuals) / np.concatenate(scales)).ravel()
levels = np.linspace(0.05, 0.95, 19)
q = stats.norm.ppf(0.5 + levels / 2)  # |z| <= q: inside the central interval
candidates = np.linspace(0.5, 4.0, 351)
gaps = [np.mean(np.abs((z[:, None] <= c * q).mean(0) - levels)) for c in candidates]
factor = float(candidates[np.argmin(gaps)])
print(f"\nScale factor from the held-out folds: {factor:.2f}")


def predict(model, x, factor=1.0):
    """A network's (loc, factor * scale), in the units of y."""
    loc, scale = np.split(model.predict(x, verbose=0), 2, axis=-1)
    return np.concatenate([loc * y_std + y_mean, factor * scale * y_std], axis=-1)


def constant_variance(x):
    """Network 1's mean with one sigma: the RMS of the held-out residuals."""
    loc = predict(members[0], x)[:, :1]
    sigma = float(np.sqrt(np.mean(np.concatenate(residuals) ** 2))) * y_std
    return np.concatenate([loc, np.full_like(loc, sigma)], axis=-1)


# %% [markdown]
# ## Evaluation
#
# The ensemble is the equal-weight mixture of the five networks as trained:
# where they disagree, the spread of their means widens its intervals. Each
# score is a method of the TFP distributions that `as_normal` and `as_mixture`
# return. MACE is the mean absolute gap between the probability p of a central
# interval and its coverage, for p = 0.05, 0.10, ..., 0.95.


# %%
def distributions(x):
    return {
        "constant variance": ks.distributions.as_normal(constant_variance(x)),
        "single network": ks.distributions.as_normal(predict(members[0], x, factor)),
        f"ensemble of {MEMBERS}": ks.distributions.as_mixture(
            [predict(model, x) for model in members]
        ),
        "truth": ks.distributions.as_normal(np.hstack([true_mean(x), true_scale(x)])),
    }


coverage = {}
print(f"\n{'model':<20}{'NLL':>8}{'RMSE':>8}{'cov68':>8}{'MACE':>8}")
for name, distribution in distributions(x_test).items():
    nll = -float(np.mean(distribution.log_prob(y_test)))
    rmse = float(np.sqrt(np.mean((distribution.mean() - y_test) ** 2)))
    u = np.asarray(distribution.cdf(y_test))
    coverage[name] = np.array([np.mean(np.abs(u - 0.5) <= p / 2) for p in levels])
    mace = float(np.mean(np.abs(coverage[name] - levels)))
    cov68 = float(np.mean(np.abs(u - 0.5) <= 0.34))
    print(f"{name:<20}{nll:8.3f}{rmse:8.3f}{cov68:8.1%}{mace:8.3f}")
print(f"{'best achievable':<20}{best_nll:8.3f}   (expected NLL of the true density)")
print(f"{'best constant sigma':<20}{best_constant_nll:8.3f}   (true mean, one sigma)")

# %% [markdown]
# ## Plots: the mean ±2σ, the predicted σ(x) against the true σ(x), calibration

# %%
grid = np.linspace(-20, 60, 1000)[:, None]
on_grid = distributions(grid)
fig, axes = plt.subplots(1, 3, figsize=(18, 4.5))
for name in ("single network", f"ensemble of {MEMBERS}"):
    mean = np.asarray(on_grid[name].mean())[:, 0]
    std = np.asarray(on_grid[name].stddev())[:, 0]
    axes[0].fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.2)
    axes[0].plot(grid[:, 0], mean, label=f"{name}: mean ± 2σ")
axes[0].plot(grid[:, 0], true_mean(grid[:, 0]), "k--", lw=1, label="true mean")
axes[0].scatter(x_train[:, 0], y_train[:, 0], s=6, color="k", label="training data")
for name, distribution in on_grid.items():
    axes[1].plot(grid[:, 0], np.asarray(distribution.stddev())[:, 0], label=name)
axes[2].plot([0, 1], [0, 1], color="gray", lw=1, label="perfectly calibrated")
for name, observed in coverage.items():
    axes[2].plot(levels, observed, marker="o", ms=3, label=name)
labels = [("x", "y"), ("x", "predictive σ(x)"), ("central interval", "coverage")]
for ax, (xlabel, ylabel) in zip(axes, labels, strict=True):
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize=8)
os.makedirs(OUTPUT, exist_ok=True)
path = os.path.join(OUTPUT, "heteroscedastic_regression.png")
fig.savefig(path, dpi=100, bbox_inches="tight")
print("Plots:", path)
