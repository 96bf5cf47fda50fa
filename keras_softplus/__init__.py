"""keras_softplus: softplus done right for Keras 3 (TensorFlow, JAX, PyTorch).

- `ops`: beta-softplus (`softplus`, `softminus` and their inverses) with an
  exact fused gradient in x and beta, and the distributions' math;
- `layers.BetaSoftplus` (trainable beta), `activations.FixedBetaSoftplus`;
- positivity by reparameterisation: `positivity.SoftplusPositive`,
  `layers.PositiveDense`, `layers.PositiveHead`;
- distribution heads: `NormalHead`, `StudentTHead`, `PoissonHead`,
  `NegativeBinomialHead`, `GammaHead` and their base `DistributionHead`;
- `losses` (their negative log-likelihoods) and `metrics` (NLL, CRPS, RMSE);
- `distributions`: the TensorFlow Probability distribution of each head's
  output (`as_normal`, `as_mixture`, `as_student_t`, `as_poisson`,
  `as_negative_binomial`, `as_gamma`).
"""

__version__ = "0.2.0"

from keras_softplus import activations
from keras_softplus import constraints
from keras_softplus import distributions
from keras_softplus import layers
from keras_softplus import losses
from keras_softplus import metrics
from keras_softplus import ops
from keras_softplus import positivity
from keras_softplus.layers import BetaSoftplus
from keras_softplus.layers import NormalHead
from keras_softplus.layers import PositiveDense
from keras_softplus.layers import PositiveHead
from keras_softplus.losses import NormalNLL
from keras_softplus.positivity import SoftplusPositive

__all__ = [
    "BetaSoftplus",
    "NormalHead",
    "NormalNLL",
    "PositiveDense",
    "PositiveHead",
    "SoftplusPositive",
    "activations",
    "constraints",
    "distributions",
    "layers",
    "losses",
    "metrics",
    "ops",
    "positivity",
    "__version__",
]
