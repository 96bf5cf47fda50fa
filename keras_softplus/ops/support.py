"""The supports of the distributions: one predicate per support, checked
the same way eagerly and in compiled code.

Each predicate (`is_count`, `is_positive_normal`) is written once against
an array namespace: NumPy for values known now, `keras.ops` for values
known only at run time. `supported` raises a ValueError for known values
outside the support, and otherwise returns the predicate as a tensor, so
that the likelihoods give NaN where a compiled function meets such a
target.
"""

import keras
import numpy as np

from keras_softplus.ops._execution import known_value


def is_count(values, xp=keras.ops):
    """A valid count: finite, `>= 0` and an integer. A subnormal value
    counts as 0, as CPUs that flush subnormals to 0 see it."""
    integer = (values == xp.round(values)) | (values < smallest_normal(values))
    return xp.isfinite(values) & (values >= 0) & integer


def is_positive_normal(values, xp=keras.ops):
    """A valid positive target: finite and at least the smallest normal
    number of its dtype. Subnormal targets (below 1.2e-38 in float32) are
    rejected: they keep few significant digits, and their logarithm and its
    gradient lose the accuracy of the rest."""
    return xp.isfinite(values) & (values >= smallest_normal(values))


def smallest_normal(values):
    """The smallest positive normal number of the dtype of `values`."""
    return float(np.finfo(keras.backend.standardize_dtype(values.dtype)).tiny)


def supported(values, name, condition_text, predicate):
    """`predicate(values)` as a boolean tensor; a ValueError first where the
    values are known now and some fail it.

    Args:
        values: a tensor.
        name: the argument's name, for the message.
        condition_text: the support in words, e.g. `"> 0"`.
        predicate: `is_count` or `is_positive_normal`.

    Returns:
        A boolean tensor of the shape of `values`: False marks values that
        are only known at run time and lie outside the support.

    Raises:
        ValueError: for known values outside the support.
    """
    check_support(values, name, condition_text, lambda array: predicate(array, np))
    return predicate(values)


def check_support(values, name, condition_text, condition):
    """ValueError when `values` are known now and some fail `condition`, a
    NumPy predicate; nothing for values known only at run time."""
    array = known_value(values)
    if array is None:
        return
    failing = ~condition(array)
    if np.any(failing):
        raise ValueError(
            f"`{name}` must be {condition_text} (the support of the "
            f"distribution). Received: {name} with values such as "
            f"{array[failing].ravel()[:3].tolist()}"
        )


__all__ = ["check_support", "is_count", "is_positive_normal", "supported"]
