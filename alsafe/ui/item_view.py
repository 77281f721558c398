"""How the labeling widget draws the item on screen and the ink on its label colours."""

from __future__ import annotations

import html


def item_html(item: dict, taxonomy, round: int) -> str:
    """The item on screen (a record of the widget's queue) with its facts: cluster, the learner's guess, its
    uncertainty, and the round it came from when that is not ``round`` (its label was undone)."""
    predicted = item.get("predicted_label")
    colour = taxonomy[predicted].colour if predicted in taxonomy else "#888"
    facts = [f"item <code>{html.escape(str(item['item_id']))}</code>"]
    if item.get("cluster") is not None and item["cluster"] == item["cluster"]:
        facts.append(f"cluster <b>{int(item['cluster'])}</b>")
    if predicted:
        facts.append(f"learner predicts <b style='color:{colour}'>{html.escape(taxonomy.display(predicted))}</b>")
    if item.get("score") is not None and item["score"] == item["score"]:
        facts.append(f"uncertainty <b>{item['score']:.2f}</b>")
    if item["round"] != round:
        facts.append(f"<b>from round {item['round']}</b>, its label undone: label it again")
    return (f"<div style='font-size:13px;color:#555;margin:6px 0 4px'>{' · '.join(facts)}</div>"
            f"<div style='font-size:21px;line-height:1.5;padding:14px 18px;background:#f6f7f9;"
            f"border-left:6px solid {colour};border-radius:6px;white-space:pre-wrap;overflow-wrap:anywhere'>"
            f"{html.escape(str(item['text']))}</div>")


def ink(colour: str) -> str:
    """Black or white, whichever reads better on ``colour`` (a ``#rrggbb`` hex)."""
    try:
        red, green, blue = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "black"
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "white"
