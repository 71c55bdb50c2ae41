"""The confusion matrix of a classification report as a PNG heatmap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_PAD = 8
_LOW, _HIGH = np.array([255, 255, 255]), np.array([8, 48, 107])  # white to dark blue
_NO_IMAGES = (225, 225, 225)


def save_confusion_png(report: dict, path: str | Path) -> Path:
    """Draw the report's confusion matrix as a PNG heatmap.

    Rows are true classes (named with their image counts), columns predicted classes; colour
    is the fraction of the row, grey for classes without images. Non-zero counts are written
    in cells large enough to hold them; names are left out when cells are under 8 pixels.
    """
    confusion = np.asarray(report["confusion"])
    names = report["class_names"]
    cell = int(np.clip(1000 // len(names), 2, 56))
    fonts = {
        "title": ImageFont.load_default(size=16),
        "axis": ImageFont.load_default(size=14),
        "name": ImageFont.load_default(size=min(14, cell - 1)) if cell >= 8 else None,
        "count": ImageFont.load_default(size=min(14, cell // 2)),
    }
    row_names = [f"{name} ({count})" for name, count in zip(names, confusion.sum(1), strict=True)]
    name_w = max(_width(fonts["name"], text) for text in row_names)
    column_h = max(_width(fonts["name"], text) for text in names)
    title = _title(report)
    left = 3 * _PAD + 16 + name_w
    top = 2 * _PAD + 20
    grid = cell * len(names)
    width = max(left + grid + _PAD, _width(fonts["title"], title) + 2 * _PAD)
    sheet = Image.new("RGB", (width, top + grid + column_h + 3 * _PAD + 16), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((_PAD, _PAD), title, fill="black", font=fonts["title"])
    _draw_cells(draw, confusion, (left, top), cell, fonts["count"])
    _draw_names(sheet, row_names, names, (left, top), cell, fonts["name"])
    draw.text((left + grid / 2, top + grid + column_h + 2 * _PAD), "predicted", fill="black",
              font=fonts["axis"], anchor="mt")
    _paste_text(sheet, "true", fonts["axis"], (_PAD, top + grid // 2), anchor="lm", rotate=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _title(report: dict) -> str:
    top1 = "n/a" if report["top1"] is None else f"{report['top1']:.1%}"
    return f"Confusion matrix: top-1 {top1} of {report['images']} images"


def _width(font: ImageFont.FreeTypeFont | None, text: str) -> int:
    return int(np.ceil(font.getlength(text))) if font else 0


def _draw_cells(
    draw: ImageDraw.ImageDraw, confusion: np.ndarray, origin: tuple, cell: int, font
) -> None:
    """Fill each cell with its row fraction and write non-zero counts that fit."""
    totals = confusion.sum(1, keepdims=True)
    fractions = confusion / np.maximum(totals, 1)
    outline = (200, 200, 200) if cell >= 16 else None
    for (row, col), count in np.ndenumerate(confusion):
        x, y = origin[0] + col * cell, origin[1] + row * cell
        fill = _colour(fractions[row, col]) if totals[row, 0] else _NO_IMAGES
        draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=fill, outline=outline)
        text = str(count)
        if count and font.size >= 7 and _width(font, text) <= cell - 2:
            colour = "white" if fractions[row, col] > 0.5 else "black"
            draw.text((x + cell / 2, y + cell / 2), text, fill=colour, font=font, anchor="mm")


def _colour(fraction: float) -> tuple[int, int, int]:
    return tuple(int(round(v)) for v in _LOW + fraction * (_HIGH - _LOW))


def _draw_names(sheet: Image.Image, rows: list[str], columns: list[str], origin: tuple,
                cell: int, font) -> None:
    """Row names right-aligned left of the grid, column names rotated below it."""
    if font is None:
        return
    left, top = origin
    bottom = top + cell * len(columns) + _PAD // 2
    for i, (row, column) in enumerate(zip(rows, columns, strict=True)):
        middle = i * cell + cell // 2
        _paste_text(sheet, row, font, (left - _PAD // 2, top + middle), anchor="rm")
        _paste_text(sheet, column, font, (left + middle, bottom), anchor="mt", rotate=True)


def _paste_text(sheet: Image.Image, text: str, font, at: tuple, anchor: str,
                rotate: bool = False) -> None:
    """Black text placed by ``anchor`` (l/m/r, t/m) at ``at``; rotated to read bottom-to-top."""
    box = font.getbbox(text)
    mask = Image.new("L", (box[2] + 1, box[3] + 1))
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
    if rotate:
        mask = mask.rotate(90, expand=True)
    x = at[0] - {"l": 0, "m": mask.width // 2, "r": mask.width}[anchor[0]]
    y = at[1] - {"t": 0, "m": mask.height // 2}[anchor[1]]
    sheet.paste("black", (x, y), mask)
