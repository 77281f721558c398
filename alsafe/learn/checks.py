"""Input checks shared by the learners and vectorizers: each refuses bad input in one sentence naming the parameter."""

from __future__ import annotations

import numpy as np

from alsafe.exceptions import LearnerError


def check_texts(texts, parameter: str = "texts") -> list[str]:
    """``texts`` as a list of strings; a single string, None or NaN entry is refused in one sentence."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{parameter} must be a list of strings, not a single string.")
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"{parameter} must be a list of strings, not {type(texts).__name__}.") from None
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{parameter}[{position}] is {text!r}, not a string; drop or fill missing texts first.")
    return texts


def check_positive_int(value, parameter: str) -> None:
    """Refuse ``value`` unless it is an integer >= 1 (ValueError naming ``parameter``)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{parameter} must be a positive integer, not {value!r}.")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def check_training_data(texts, labels, classes=None, prefix: str = "") -> tuple[list[str], list, np.ndarray]:
    """Texts, labels and the class order, or one sentence on what is wrong with them.

    Parameters
    ----------
    texts, labels : sequence
        The labeled set L.
    classes : sequence or None
        Fixed class order; None sorts the labels seen.
    prefix : str
        Put before the parameter names in messages (``"dev_"`` for the dev set).
    """
    texts = check_texts(texts, f"{prefix}texts")
    if isinstance(labels, str):
        raise TypeError(f"{prefix}labels must be a list of labels, not a single string.")
    labels = list(labels)
    if len(texts) != len(labels):
        raise LearnerError(f"{prefix}texts and {prefix}labels must have the same length, "
                           f"not {len(texts)} texts and {len(labels)} labels.")
    if not texts:
        raise LearnerError(f"{prefix}texts is empty; a classifier needs labeled texts of at least two classes.")
    for position, label in enumerate(labels):
        if _missing(label):
            raise LearnerError(f"{prefix}labels[{position}] is missing; label every text or drop it.")
    if classes is None:
        classes = np.array(sorted(set(labels)), dtype=object)
    else:
        classes = np.array(list(classes), dtype=object)
        if len(set(classes)) != len(classes) or len(classes) < 2:
            raise LearnerError(f"classes must list at least two distinct classes, not {list(classes)!r}.")
        unknown = sorted(set(labels) - set(classes), key=str)
        if unknown:
            raise LearnerError(f"{prefix}labels hold {unknown!r}, which classes does not list.")
    if not prefix and len(set(labels)) < 2:
        raise LearnerError(f"labels hold a single class ({labels[0]!r}); a classifier needs labeled texts of at least "
                           "two classes in L, so label texts of another class first.")
    return texts, labels, classes


def check_number(value, parameter: str, low: float = 0.0, integer: bool = False, allow_low: bool = False) -> None:
    """Refuse ``value`` unless it is a number (an integer with ``integer``) above ``low`` (or equal, with ``allow_low``)."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < low or (value == low and not allow_low):
        kind = "an integer" if integer else "a number"
        bound = f">= {low}" if allow_low else f"> {low}"
        raise LearnerError(f"{parameter} must be {kind} {bound}, not {value!r}.")


def in_class_order(seen: np.ndarray, seen_classes, classes) -> np.ndarray:
    """Probabilities over ``seen_classes`` (a solver's ``classes_``) as columns of every class in ``classes``;
    a class the solver never saw gets 0."""
    columns = [list(classes).index(label) for label in seen_classes]
    probabilities = np.zeros((seen.shape[0], len(classes)))
    probabilities[:, columns] = seen
    return probabilities
