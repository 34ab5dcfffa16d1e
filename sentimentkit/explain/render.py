"""Explanations a person reads at a glance: an HTML page and a PNG heatmap of the text.

Green words pushed the prediction toward the explained label, red words against it; the colour's strength is
the word's share of the largest absolute score in that explanation. The aspect is boxed. A multimodal clip gets
its modality totals, its words, and one strip of frames per modality (green raised the value, red lowered it).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # attribution calls into this module to render itself
    from .attribution import Attribution, ClipAttribution, FrameScores, WordScore

TOWARD = (46, 160, 67)  # green
AGAINST = (214, 39, 40)  # red


def _strength(word: WordScore, scale: float) -> float:
    if word.score is None or scale <= 0:
        return 0.0
    return max(-1.0, min(1.0, word.score / scale))


def _scale(a: Attribution) -> float:
    return max((abs(w.score) for w in a.words if w.score is not None), default=0.0)


def _rgba(strength: float) -> str:
    r, g, b = TOWARD if strength >= 0 else AGAINST
    return f"rgba({r},{g},{b},{abs(strength) * 0.85:.3f})"


def _sentence_html(a: Attribution) -> str:
    scale = _scale(a)
    parts, cursor = [], a.offset
    for w in a.words:
        if w.start > cursor:
            parts.append(html.escape(a.text[cursor - a.offset : w.start - a.offset]))
        tip = [f"score {w.score:+.4f}" if w.score is not None else "not read (outside the model's window)"]
        if w.attention is not None:
            tip.append(f"attention {w.attention:.3f}")
        if w.mdw is not None:
            tip.append(f"MDW weight {w.mdw:g}")
        if w.experts is not None:
            tip.append("experts " + ",".join(map(str, w.experts)))
        style = f"background:{_rgba(_strength(w, scale))}"
        cls = "w aspect" if w.aspect else ("w unread" if w.score is None else "w")
        parts.append(
            f'<span class="{cls}" style="{style}" title="{html.escape("; ".join(tip))}">{html.escape(w.word)}</span>'
        )
        cursor = w.end
    parts.append(html.escape(a.text[cursor - a.offset :]))
    return "".join(parts)


def _attention_html(a: Attribution) -> str:
    if not any(w.attention is not None for w in a.words):
        return ""
    top = max((w.attention or 0.0) for w in a.words) or 1.0
    spans = []
    for w in a.words:
        level = (w.attention or 0.0) / top
        spans.append(
            f'<span class="w" style="background:rgba(31,119,180,{level * 0.8:.3f})">{html.escape(w.word)}</span>'
        )
    return f'<p class="attn"><b>model attention</b> (for comparison): {" ".join(spans)}</p>'


def _card(a: Attribution) -> str:
    head = f"<b>{html.escape(a.label)}</b> p={a.probability:.3f}"
    if a.label != a.predicted:
        head += f" (predicted: {html.escape(a.predicted)})"
    if a.aspect is not None:
        head = f"aspect <span class='aspect'>{html.escape(a.aspect)}</span>: " + head
    top = ", ".join(f"{html.escape(w.word)} ({w.score:+.3f})" for w in a.top(5)) or "none"
    against = ", ".join(f"{html.escape(w.word)} ({w.score:+.3f})" for w in a.top(5, toward=False)) or "none"
    notes = (
        f"integrated gradients, {a.steps} steps; baseline p={a.baseline_probability:.3f}; "
        f"sum of attributions {a.attribution_sum:+.4f}; completeness delta {a.delta:+.4f}"
    )
    if a.truncated:
        notes += "; the text was cut to the model's window (grey words were not read)"
    return (
        f'<section class="card"><h2>{head}</h2><p class="text">{_sentence_html(a)}</p>'
        f"<p>toward: {top}<br>against: {against}</p>{_attention_html(a)}"
        f'<p class="notes">{html.escape(notes)}</p></section>'
    )


STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
.card{border:1px solid #ddd;border-radius:8px;padding:0.5rem 1rem;margin:1rem 0}
.text{font-size:1.25rem;line-height:2.2}
.w{padding:0.1rem 0.15rem;border-radius:3px}
.aspect{outline:2px solid #333;border-radius:3px;padding:0 0.15rem}
.unread{color:#999}
.notes{color:#666;font-size:0.85rem}
.legend span{padding:0.1rem 0.4rem;border-radius:3px}
"""


def html_page(attributions: Sequence[Attribution]) -> str:
    """A standalone page (no scripts, no external files) with one card per explanation."""
    legend = (
        f'<p class="legend"><span style="background:{_rgba(1.0)}">toward the label</span> '
        f'<span style="background:{_rgba(-1.0)}">against it</span> '
        '<span class="aspect">aspect</span></p>'
    )
    cards = "".join(_card(a) for a in attributions)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sentimentkit explanation</title>'
        f"<style>{STYLE}</style></head><body><h1>Why the model decided</h1>{legend}{cards}</body></html>\n"
    )


def save_png(attributions: Sequence[Attribution], path: str | Path, width: float = 10.0) -> Path:
    """The texts as a heatmap: each word on a box coloured by its score, wrapped to `width` inches."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    line_h, pad = 0.42, 0.06  # inches
    fig = plt.figure(figsize=(width, 1.0), dpi=150)
    renderer = fig.canvas.get_renderer()
    rows: list[tuple[str, list[tuple[float, float, WordScore, float]]]] = []
    for a in attributions:
        scale = _scale(a)
        title = f"{a.label} p={a.probability:.2f}" + (f"  aspect: {a.aspect}" if a.aspect else "")
        title += f"  (IG delta {a.delta:+.3f})"
        placed, x, line = [], 0.2, 0
        for w in a.words:
            t = fig.text(0, 0, w.word, fontsize=12)
            bb = t.get_window_extent(renderer=renderer)
            t.remove()
            w_in = bb.width / fig.dpi + 2 * pad
            if x + w_in > width - 0.2 and placed:
                line, x = line + 1, 0.2
            placed.append((x, line, w, _strength(w, scale)))
            x += w_in + 0.08
        rows.append((title, [(px, float(pl), w, s) for px, pl, w, s in placed]))
    total_lines = sum(1 + 1 + max((p[1] for p in placed), default=0) + 0.6 for _, placed in rows)
    height = total_lines * line_h + 0.3
    fig.set_size_inches(width, height)
    y = height - 0.35
    for title, placed in rows:
        fig.text(0.2 / width, y / height, title, fontsize=11, weight="bold", va="center")
        y -= line_h
        for px, pl, w, s in placed:
            r, g, b = TOWARD if s >= 0 else AGAINST
            face = (r / 255, g / 255, b / 255, abs(s) * 0.85) if w.score is not None else (0.85, 0.85, 0.85, 0.6)
            fig.text(
                px / width, (y - pl * line_h) / height, w.word, fontsize=12, va="center",
                bbox={"boxstyle": "round,pad=0.2", "facecolor": face,
                      "edgecolor": "black" if w.aspect else "none", "linewidth": 1.5 if w.aspect else 0},
            )  # fmt: skip
        y -= (1 + max((p[1] for p in placed), default=0) + 0.6) * line_h
    path = Path(path)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


# --- multimodal clips ------------------------------------------------------------------------------------------
CLIP_STYLE = """
.frames{display:flex;align-items:stretch;height:1.4rem;margin:0.15rem 0;border:1px solid #eee}
.frames div{flex:1 1 0;min-width:1px}
.bar{display:inline-block;height:0.8rem;vertical-align:middle;border-radius:2px}
table.totals td{padding:0.1rem 0.5rem}
"""


def _clip_words_html(a: ClipAttribution) -> str:
    scale = max((abs(w.score) for w in a.words if w.score is not None), default=0.0)
    parts, cursor = [], 0
    for w in a.words:
        parts.append(html.escape(a.text[cursor : w.start]))
        tip = [f"score {w.score:+.4f}" if w.score is not None else "not read (outside the model's window)"]
        if w.attention is not None:
            tip.append(f"language-token attention {w.attention:.3f}")
        style = f"background:{_rgba(_strength(w, scale))}"
        cls = "w unread" if w.score is None else "w"
        parts.append(
            f'<span class="{cls}" style="{style}" title="{html.escape("; ".join(tip))}">{html.escape(w.word)}</span>'
        )
        cursor = w.end
    parts.append(html.escape(a.text[cursor:]))
    return "".join(parts)


def _strip(values: Sequence[float], colour: Callable[[float], str], label: str) -> str:
    cells = "".join(
        f'<div style="background:{colour(v)}" title="frame {i}: {v:+.4f}"></div>' for i, v in enumerate(values)
    )
    return f'<p class="notes">{html.escape(label)}</p><div class="frames">{cells}</div>'


def _frames_html(frames: FrameScores) -> str:
    if not frames.scores:
        return f"<p><b>{frames.modality}</b>: no frames</p>"
    scale = max(abs(s) for s in frames.scores) or 1.0

    def ig(v: float) -> str:
        return _rgba(max(-1.0, min(1.0, v / scale)))

    out = [f"<p><b>{frames.modality}</b>: {len(frames.scores)} frames, attribution {frames.total:+.3f}"]
    if frames.read < len(frames.scores):
        out.append(f" (the model read the first {frames.read})")
    out.append("</p>")
    out.append(_strip(frames.scores, ig, "integrated gradients per frame"))
    if frames.attention is not None:
        top = max(frames.attention) or 1.0

        def blue(v: float) -> str:
            return f"rgba(31,119,180,{0.85 * v / top:.3f})"

        out.append(_strip(frames.attention, blue, "AHL attention carried to frames"))
    return "".join(out)


def _clip_card(a: ClipAttribution) -> str:
    head = f"value <b>{a.value:+.2f}</b> ({html.escape(a.polarity)})"
    if a.id:
        head = f"{html.escape(a.id)}: " + head
    totals = a.modality_totals
    scale = max(abs(v) for v in totals.values()) or 1.0
    rows = "".join(
        f"<tr><td>{name}</td><td>{value:+.3f}</td><td><span class='bar' style='width:{abs(value) / scale * 12:.2f}rem;"
        f"background:{_rgba(1.0 if value >= 0 else -1.0)}'></span></td></tr>"
        for name, value in totals.items()
    )
    notes = (
        f"integrated gradients over token states, audio and vision frames, {a.steps} steps; baseline value "
        f"{a.baseline_value:+.3f} (zero states and frames); completeness delta {a.delta:+.4f}"
    )
    if a.ahl_audio_share is not None:
        notes += "; AHL audio share per layer " + ", ".join(f"{s:.2f}" for s in a.ahl_audio_share)
    if a.truncated:
        notes += "; the transcript was cut to the model's window (grey words were not read)"
    return (
        f'<section class="card"><h2>{head}</h2><table class="totals">{rows}</table>'
        f'<p class="text">{_clip_words_html(a)}</p>{_frames_html(a.audio)}{_frames_html(a.vision)}'
        f'<p class="notes">{html.escape(notes)}</p></section>'
    )


def clip_page(attributions: Sequence[ClipAttribution]) -> str:
    """A standalone page with one card per clip: modality totals, the transcript's words, one strip per modality."""
    legend = (
        f'<p class="legend"><span style="background:{_rgba(1.0)}">raised the value</span> '
        f'<span style="background:{_rgba(-1.0)}">lowered it</span></p>'
    )
    cards = "".join(_clip_card(a) for a in attributions)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sentimentkit explanation</title>'
        f"<style>{STYLE}{CLIP_STYLE}</style></head><body><h1>What moved the sentiment value</h1>{legend}{cards}"
        "</body></html>\n"
    )


def save_clip_png(attributions: Sequence[ClipAttribution], path: str | Path) -> Path:
    """Per clip: modality totals, word scores, and audio and vision attributions per frame (with ALMT's AHL
    attention as a line where the model has it)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(
        4 * len(attributions), 1, figsize=(10, 7.5 * len(attributions)), dpi=120, squeeze=False,
        gridspec_kw={"height_ratios": [0.6, 1.2, 1, 1] * len(attributions)},
    )  # fmt: skip
    axes = axes[:, 0]
    for n, a in enumerate(attributions):
        totals_ax, words_ax, audio_ax, vision_ax = axes[4 * n : 4 * n + 4]
        totals = a.modality_totals
        colours = [tuple(c / 255 for c in (TOWARD if v >= 0 else AGAINST)) for v in totals.values()]
        totals_ax.barh(list(totals), list(totals.values()), color=colours)
        totals_ax.axvline(0, color="black", linewidth=0.8)
        totals_ax.set_title(
            f"{a.id + ': ' if a.id else ''}value {a.value:+.2f} ({a.polarity}), baseline {a.baseline_value:+.2f}, "
            f"IG delta {a.delta:+.3f}",
            fontsize=10,
        )
        read = [w for w in a.words if w.score is not None]
        scores = [w.score or 0.0 for w in read]
        words_ax.bar(
            range(len(read)), scores, color=[tuple(c / 255 for c in (TOWARD if s >= 0 else AGAINST)) for s in scores]
        )
        words_ax.set_xticks(range(len(read)), [w.word for w in read], rotation=60, fontsize=8)
        words_ax.axhline(0, color="black", linewidth=0.8)
        words_ax.set_ylabel("words")
        for ax, frames in ((audio_ax, a.audio), (vision_ax, a.vision)):
            ax.bar(range(len(frames.scores)), frames.scores, width=1.0, color="0.35")
            ax.axhline(0, color="black", linewidth=0.8)
            ax.set_ylabel(f"{frames.modality} frames")
            if frames.attention is not None:
                twin = ax.twinx()
                twin.plot(range(len(frames.attention)), frames.attention, color="tab:blue", linewidth=1)
                twin.set_ylabel("AHL attention", color="tab:blue", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
