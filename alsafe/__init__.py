"""alsafe: active learning that steers LLM generation towards rare but critical safety cases.

A thin helper package behind the numbered notebooks in ``notebooks/``; see README.md.
"""

import sys

__version__ = "0.1.0"


def _show_errors_plainly() -> None:
    """In a notebook, an alsafe error shows as its one sentence (which names the culprit and the remedy),
    not as a traceback through the package; the cell still fails, so papermill still stops there."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return
    from alsafe.exceptions import AlsafeError

    def show(shell, etype, value, tb, tb_offset=None):
        shell._showtraceback(etype, value, [f"{etype.__name__}: {value}"])

    shell.set_custom_exc((AlsafeError,), show)


_show_errors_plainly()
