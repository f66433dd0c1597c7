"""A saved run as a film: an animated GIF (one frame per step, Pillow) or one self-contained HTML
page with a step slider and Play, the way LLaDA's own visualisation shows the reveal.

Both draw what the window's canvas draws: a grey cell per masked position, the tokens revealed in
the shown step highlighted by confidence (the LLaDA demo's buckets: under 0.3, under 0.7, above),
earlier tokens as plain text, EOS/EOT padding as nothing.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from .run_file import RunRecord

# Light theme of the window's canvas (app/canvas_style.py).
BUCKET_COLOURS = ("#f5a3a3", "#fbd58a", "#a6dcb4")
MASK_FILL, MASK_BORDER, TEXT, BACKGROUND = "#eef0f3", "#c3cad5", "#1d1d1d", "#ffffff"
LOW, MID = 0.3, 0.7


def bucket(confidence: float) -> int:
    return 0 if confidence < LOW else (1 if confidence < MID else 2)


Cell = tuple[str | None, int | None]  # (text, or None while masked; confidence bucket if revealed now)


def _frames(record: RunRecord) -> list[list[Cell]]:
    """Per step 0..n: each position's (text or None when masked, bucket when revealed in that step)."""
    # The starting canvas (pinned words, infilling's text) and a branch's edits (issue 15).
    start = record.canvas_ids_at(0, with_edit=False)
    shown: list[str | None] = [None if t is None else record.text_of(i, t) for i, t in enumerate(start)]
    frames: list[list[Cell]] = [[(t, None) for t in shown]]

    def edit_after(step: int) -> None:
        for ed in record.edits:
            if ed.after_step == step:
                for pos, tok in zip(ed.positions, ed.tokens):
                    shown[pos] = None if tok == record.mask_id else record.text_of(pos, tok)

    edit_after(0)
    for step, e in enumerate(record.trajectory, start=1):
        now: dict[int, int] = {}
        for pos, tok, conf in zip(e.positions[0], e.tokens[0], e.confidences[0]):
            shown[pos] = record.text_of(pos, tok)
            now[pos] = bucket(conf)
        frames.append([(t, now.get(i)) for i, t in enumerate(shown)])
        edit_after(step)
    return frames


def write_gif(record: RunRecord, path: str | Path, width: int = 760, ms_per_step: int = 80) -> Path:
    """One frame per step (and the all-masked start); the last frame holds for 2 s."""
    from PIL import Image, ImageDraw, ImageFont

    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 16)
    except OSError:  # no DejaVu here: Pillow's own scalable font
        font = ImageFont.load_default(size=16)
    frames = _frames(record)
    pad, gap, margin, line_h = 4, 4, 12, 26
    mask_w = int(font.getlength("mmmm")) + 2 * pad

    def layout(cells: list[Cell]) -> list[tuple[int, int, int, str | None, int | None, int]]:
        """(x, y, width, text, bucket, text offset) per drawn cell; a piece that does not start
        with a space is set right after the word before it, as the window's canvas does."""
        x, y, out = margin, margin, []
        after_text = False
        for text, b in cells:
            shown = None if text is None else text.replace("\n", " ").strip()
            if text is not None and not shown:
                continue  # padding, or a bare space
            joined = text is not None and after_text and not text[0].isspace() and x > margin
            w = mask_w if shown is None else int(font.getlength(shown)) + (pad if joined else 2 * pad)
            if joined:
                x -= gap + pad
            if x + w > width - margin and x > margin:
                x, y = margin, y + line_h + gap
            out.append((x, y, w, shown, b, 0 if joined else pad))
            x += w + gap
            after_text = shown is not None
        return out

    bottom = max([margin] + [cell[1] for frame in (frames[0], frames[-1]) for cell in layout(frame)])
    height = bottom + line_h + margin
    images = []
    for cells in frames:
        img = Image.new("RGB", (width, height), BACKGROUND)
        d = ImageDraw.Draw(img)
        for x, y, w, text, b, offset in layout(cells):
            if text is None:
                d.rounded_rectangle((x, y, x + w, y + line_h), radius=4, fill=MASK_FILL, outline=MASK_BORDER)
                continue
            if b is not None:
                d.rounded_rectangle((x, y, x + w, y + line_h), radius=4, fill=BUCKET_COLOURS[b])
            d.text((x + offset, y + 4), text, fill=TEXT, font=font)
        images.append(img)
    p = Path(path)
    durations = [ms_per_step] * (len(images) - 1) + [2000]
    images[0].save(p, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False)
    return p


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 16px/1.6 system-ui, sans-serif; margin: 2em auto; max-width: 50em; color: {text}; }}
#canvas span {{ display: inline-block; margin: 2px 1px; padding: 0 3px; border-radius: 4px; white-space: pre; }}
#canvas .mask {{ background: {mask}; outline: 1px dashed {border}; min-width: 2.2em; color: transparent; }}
#canvas .b0 {{ background: {b0}; }} #canvas .b1 {{ background: {b1}; }} #canvas .b2 {{ background: {b2}; }}
.prompt {{ color: #777; }} .controls {{ margin: 1em 0; }} input[type=range] {{ width: 60%; }}
</style></head><body>
<h1>{title}</h1>
<p class="prompt">{prompt}</p>
<div class="controls"><button id="play">Play</button>
<input id="step" type="range" min="0" max="{steps}" value="{steps}"> <span id="label"></span>
<label>delay <input id="delay" type="number" value="80" min="0" max="2000" step="10"> ms</label></div>
<div id="canvas"></div>
<p><small>{caption}</small></p>
<script>
const run = {data};
const canvas = document.getElementById("canvas"), slider = document.getElementById("step");
const label = document.getElementById("label");
function show(k) {{
  const shown = run.init.slice(), now = {{}};
  const edit = (s) => (run.edits[s] || []).forEach(([pos, t]) => {{ shown[pos] = t; }});
  if (k > 0) edit(0);
  for (let s = 0; s < k; s++) {{
    const e = run.steps[s];
    e.p.forEach((pos, i) => {{ shown[pos] = e.t[i]; if (s === k - 1) now[pos] = e.b[i]; }});
    if (s < k - 1) edit(s + 1);
  }}
  canvas.replaceChildren(...shown.map((t, i) => {{
    const span = document.createElement("span");
    if (t === null) {{ span.className = "mask"; span.textContent = "mask"; }}
    else {{ span.textContent = t; if (i in now) span.className = "b" + now[i]; }}
    return span;
  }}));
  label.textContent = "step " + k + " / " + run.steps.length;
}}
let timer = null;
document.getElementById("play").onclick = () => {{
  if (timer) {{ clearInterval(timer); timer = null; return; }}
  let k = 0; slider.value = 0; show(0);
  timer = setInterval(() => {{
    k += 1; slider.value = k; show(k);
    if (k >= run.steps.length) {{ clearInterval(timer); timer = null; }}
  }}, Number(document.getElementById("delay").value) || 80);
}};
slider.oninput = () => show(Number(slider.value));
show(run.steps.length);
</script></body></html>
"""


def write_html(record: RunRecord, path: str | Path) -> Path:
    """One page, no outside files: the run's steps as data and a few lines of script."""
    start = record.canvas_ids_at(0, with_edit=False)
    edits: dict[int, list[tuple[int, str | None]]] = {}  # after step -> [(position, text or None)]
    for ed in record.edits:
        edits.setdefault(ed.after_step, []).extend(
            (pos, None if tok == record.mask_id else record.text_of(pos, tok))
            for pos, tok in zip(ed.positions, ed.tokens)
        )
    data = {
        "n": record.gen_length,
        "init": [None if t is None else record.text_of(i, t) for i, t in enumerate(start)],
        "edits": {str(k): v for k, v in edits.items()},
        "steps": [
            {
                "p": list(e.positions[0]),
                "t": [record.text_of(pos, tok) for pos, tok in zip(e.positions[0], e.tokens[0])],
                "b": [bucket(c) for c in e.confidences[0]],
            }
            for e in record.trajectory
        ],
    }
    # Inside <script>, "</" would end the element: escape it (and keep the JSON valid).
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    name = str(record.model.get("name", "LLaDA Studio"))
    p = record.params
    caption = (
        f"{name} · {record.gen_length} tokens · {len(record.trajectory)} steps · blocks of {p.block_length} · "
        f"temperature {p.temperature:g} · {p.remasking}; colours: revealed in the shown step with confidence "
        f"< {LOW} (red), < {MID} (amber), above (green)"
    )
    page = _PAGE.format(
        title=html.escape(f"{name}: the reveal, step by step"),
        prompt=html.escape(record.prompt or ""),
        steps=len(record.trajectory),
        data=payload,
        caption=html.escape(caption),
        text=TEXT,
        mask=MASK_FILL,
        border=MASK_BORDER,
        b0=BUCKET_COLOURS[0],
        b1=BUCKET_COLOURS[1],
        b2=BUCKET_COLOURS[2],
    )
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out


def export_film(record: RunRecord, path: str | Path) -> Path:
    """By the file's suffix: .gif or .html."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        return write_gif(record, path)
    if suffix in (".html", ".htm"):
        return write_html(record, path)
    raise ValueError(f"{path}: choose a .gif or .html file name for the film")
