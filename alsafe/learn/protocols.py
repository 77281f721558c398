"""Training protocols: how long a transformer is fine-tuned, named so every score can carry it.

``steps-N``: N optimizer steps at every training-set size, 10% warm-up, so 150 titles and 750 get the
same compute; ``epochs-N``: N passes over the data (the steps grow with it). The name is checked by
:func:`alsafe.names.parse_protocol`; this module turns it into learner settings.
"""

from __future__ import annotations

from alsafe.names import PROTOCOL_PATTERN, parse_protocol

WARMUP_RATIO = 0.1  # of the steps protocol; the fixed-epoch recipe keeps no warm-up


def protocol_params(protocol: str) -> dict:
    """Learner settings of a protocol (``max_steps``/``epochs`` and ``warmup_ratio``)."""
    kind, n = PROTOCOL_PATTERN.fullmatch(parse_protocol(protocol)).groups()
    if kind == "steps":
        return {"max_steps": int(n), "warmup_ratio": WARMUP_RATIO}
    return {"epochs": int(n), "max_steps": None, "warmup_ratio": 0.0}
