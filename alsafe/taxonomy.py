"""Label taxonomies: the labels a run may use, with a description each (it goes into generation prompts), from YAML or code."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from alsafe.exceptions import TaxonomyError

# Colour-blind-safe palette (Okabe-Ito), cycled for user taxonomies without colours.
LABEL_KEYS = ("name", "description", "display_name", "colour")
_PALETTE = ["#D55E00", "#0072B2", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


@dataclass(frozen=True)
class Label:
    """One class of a taxonomy.

    Parameters
    ----------
    name : the value stored in files and the run store (e.g. ``discard``).
    description : one line, used in generation prompts and the labeling widget.
    display_name : how tables and figures show it (e.g. ``Not-Harmful``).
    colour : hex colour for plots.
    """

    name: str
    description: str
    display_name: str
    colour: str


@dataclass(frozen=True)
class Taxonomy:
    """An ordered set of labels."""

    labels: tuple[Label, ...]
    name: str = "custom"
    _by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_name", {label.name: label for label in self.labels})

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, name: str) -> Label:
        return self._by_name[name]

    def display(self, name: str) -> str:
        return self._by_name[name].display_name if name in self._by_name else name

    def colours(self) -> dict[str, str]:
        """Display name -> colour, for plotting."""
        return {label.display_name: label.colour for label in self.labels}

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "labels": [
                {"name": label.name, "description": label.description, "display_name": label.display_name,
                 "colour": label.colour}
                for label in self.labels
            ],
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "taxonomy") -> "Taxonomy":
        """Build and validate a taxonomy; errors name ``source`` and the offending entry."""
        if not isinstance(data, dict) or not isinstance(data.get("labels"), list) or not data["labels"]:
            raise TaxonomyError(f"{source}: expected a mapping with a non-empty `labels` list.")
        extra = sorted(set(data) - {"name", "labels"})
        if extra:
            raise TaxonomyError(f"{source}: unknown key `{extra[0]}` (known: name, labels).")
        labels, seen = [], {}
        for position, entry in enumerate(data["labels"], start=1):
            if isinstance(entry, str):
                entry = {"name": entry}
            if not isinstance(entry, dict):
                raise TaxonomyError(f"{source}: label {position} must be a name or a mapping with `name`.")
            name = str(entry.get("name") or "").strip()
            if not name:
                raise TaxonomyError(f"{source}: label {position} has an empty `name`.")
            unknown = sorted(set(entry) - set(LABEL_KEYS))
            if unknown:
                raise TaxonomyError(f"{source}: label {name!r} has an unknown key `{unknown[0]}` "
                                    f"(known: {', '.join(LABEL_KEYS)}).")
            if name in seen.values():
                raise TaxonomyError(f"{source}: label {position} repeats the name {name!r}; names must be unique.")
            twin = next((p for p, other in seen.items() if other.casefold() == name.casefold()), None)
            if twin is not None:
                raise TaxonomyError(f"{source}: label {position} {name!r} differs from label {twin} {seen[twin]!r} "
                                    "only in case; annotators and models would confuse them.")
            seen[position] = name
            description = str(entry.get("description") or "").strip()
            if not description:
                raise TaxonomyError(
                    f"{source}: label {name!r} has no `description`; add one line saying what it covers "
                    "(the generation prompt uses it)."
                )
            labels.append(
                Label(
                    name=name,
                    description=description,
                    display_name=str(entry.get("display_name") or name),
                    colour=str(entry.get("colour") or _PALETTE[(position - 1) % len(_PALETTE)]),
                )
            )
        if len(labels) < 2:
            raise TaxonomyError(f"{source} has {len(labels)} label; a classifier needs at least two.")
        return cls(labels=tuple(labels), name=str(data.get("name") or "custom"))


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Read a taxonomy YAML file (``labels: [{name, description, display_name?, colour?}]``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Taxonomy file {path} does not exist.")
    if path.is_dir():
        raise TaxonomyError(f"{path} is a folder, not a file; name the taxonomy YAML file itself.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TaxonomyError(f"{path} is not UTF-8 text (byte {raw[error.start]:#04x} at offset {error.start}); "
                            "save it as UTF-8.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TaxonomyError(f"{path}: not valid YAML ({error}).") from None
    return Taxonomy.from_dict(data, source=str(path))
