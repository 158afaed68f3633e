"""Draws the test pictures in examples/digits/: handwritten-looking digits (thick round strokes
along smoothed, slightly jittered paths, as a marker or a finger would draw them) in the styles
a user's picture comes in: black on white, white on black, coloured ink and paper, transparency,
palette, 16-bit and grey+alpha PNGs, tiny and large sizes, off-centre.

    ~/.cache/nn-bench/venv/bin/python tools/make_digit_pictures.py   # needs pillow

Seeded: the same files every run.
"""
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "examples" / "digits"

# Each digit is a list of strokes; each stroke a list of (x, y) points in a unit box (y down),
# smoothed by Catmull-Rom unless marked straight.
STRAIGHT, CURVE = "straight", "curve"
DIGITS = {
    0: [(CURVE, [(0.5 + 0.28 * math.sin(t), 0.5 - 0.4 * math.cos(t)) for t in
                 [i * 2 * math.pi / 12 for i in range(13)]])],
    1: [(STRAIGHT, [(0.34, 0.26), (0.5, 0.1), (0.52, 0.9)])],
    2: [(CURVE, [(0.25, 0.3), (0.35, 0.15), (0.55, 0.1), (0.72, 0.22), (0.7, 0.42), (0.5, 0.62),
                 (0.26, 0.87)]),
        (STRAIGHT, [(0.26, 0.87), (0.78, 0.86)])],
    3: [(CURVE, [(0.25, 0.18), (0.5, 0.1), (0.7, 0.2), (0.68, 0.38), (0.45, 0.48)]),
        (CURVE, [(0.45, 0.48), (0.72, 0.6), (0.72, 0.8), (0.5, 0.9), (0.22, 0.82)])],
    4: [(STRAIGHT, [(0.55, 0.1), (0.2, 0.62), (0.82, 0.62)]),
        (STRAIGHT, [(0.64, 0.3), (0.64, 0.92)])],
    5: [(STRAIGHT, [(0.74, 0.12), (0.36, 0.12), (0.31, 0.46)]),
        (CURVE, [(0.31, 0.46), (0.5, 0.4), (0.7, 0.5), (0.72, 0.72), (0.55, 0.9), (0.25, 0.85)])],
    6: [(CURVE, [(0.68, 0.12), (0.45, 0.2), (0.3, 0.45), (0.28, 0.7), (0.4, 0.88), (0.6, 0.88),
                 (0.7, 0.72), (0.6, 0.55), (0.4, 0.55), (0.3, 0.66)])],
    7: [(STRAIGHT, [(0.22, 0.14), (0.78, 0.14), (0.42, 0.9)])],
    8: [(CURVE, [(0.5, 0.48), (0.68, 0.35), (0.66, 0.18), (0.5, 0.1), (0.34, 0.18), (0.32, 0.35),
                 (0.5, 0.48), (0.7, 0.62), (0.7, 0.82), (0.5, 0.9), (0.3, 0.82), (0.3, 0.62),
                 (0.5, 0.48)])],
    9: [(CURVE, [(0.68, 0.3), (0.55, 0.12), (0.35, 0.15), (0.3, 0.32), (0.42, 0.45), (0.62, 0.42),
                 (0.68, 0.3)]),
        (STRAIGHT, [(0.68, 0.3), (0.62, 0.9)])],
}


def catmull_rom(points, steps=12):
    """A smooth curve through `points`."""
    p = [points[0]] + list(points) + [points[-1]]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        for s in range(steps):
            t = s / steps
            out.append(tuple(0.5 * (2 * b + (-a + c) * t + (2 * a - 5 * b + 4 * c - d) * t * t
                                    + (-a + 3 * b - 3 * c + d) * t ** 3)
                             for a, b, c, d in zip(p0, p1, p2, p3)))
    out.append(points[-1])
    return out


def draw_digit(digit, size, box, width, rng):
    """A mask (mode L, 255 = ink) of `size` with the digit drawn into `box` (x0, y0, x1, y1),
    slanted and jittered a little as a hand would; drawn at 4x and shrunk, for smooth edges."""
    k = 4
    mask = Image.new("L", (size[0] * k, size[1] * k), 0)
    pen = ImageDraw.Draw(mask)
    x0, y0, x1, y1 = (v * k for v in box)
    width *= k
    slant, turn = rng.uniform(-0.15, 0.15), rng.uniform(-0.08, 0.08)

    def place(x, y):
        x, y = x + rng.gauss(0, 0.012), y + rng.gauss(0, 0.012)
        x += slant * (0.5 - y)
        dx, dy = x - 0.5, y - 0.5
        x, y = 0.5 + dx * math.cos(turn) - dy * math.sin(turn), 0.5 + dx * math.sin(turn) + dy * math.cos(turn)
        return (x0 + x * (x1 - x0), y0 + y * (y1 - y0))

    for kind, points in DIGITS[digit]:
        placed = [place(x, y) for x, y in points]
        path = catmull_rom(placed) if kind == CURVE else placed
        pen.line(path, fill=255, width=width, joint="curve")
        # A round nib: a disc at every point fills the joints and the ends.
        r = width / 2
        for x, y in path:
            pen.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return mask.resize(size, Image.BOX)


def on_paper(mask, paper, ink, mode):
    """The mask as `ink` on `paper` (colours in `mode`)."""
    picture = Image.new(mode, mask.size, paper)
    picture.paste(Image.new(mode, mask.size, ink), (0, 0), mask)
    return picture


def main():
    rng = random.Random(4321)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()

    # (style name, picture size, digit box, stroke width, how to colour the mask)
    def black_on_white(m):
        return on_paper(m, 255, 0, "L")

    def white_on_black(m):
        return on_paper(m, 0, 255, "L")

    def blue_on_cream(m):
        return on_paper(m, (245, 238, 215), (20, 40, 160), "RGB")

    def chalk_on_board(m):
        return on_paper(m, (30, 70, 45), (235, 235, 225), "RGB")

    def transparent_rgba(m):
        # Black ink whose transparent surroundings hide black too: only alpha tells them apart.
        picture = Image.new("RGBA", m.size, (0, 0, 0, 0))
        picture.putalpha(m)
        return picture

    def grey_alpha(m):
        picture = Image.new("LA", m.size, (0, 0))
        picture.putalpha(m)
        return picture

    def palette(m):
        return on_paper(m, (255, 255, 255), (200, 30, 30), "RGB").convert("P", palette=Image.ADAPTIVE, colors=16)

    def sixteen_bit(m):
        return black_on_white(m).convert("I").point(lambda v: v * 257).convert("I;16")

    def pencil(m):
        return on_paper(m, (250, 250, 250), (110, 110, 110), "RGB")

    styles = [
        ("black-on-white", (200, 200), (40, 25, 160, 175), 18, black_on_white),
        ("white-on-black", (200, 200), (40, 25, 160, 175), 18, white_on_black),
        ("blue-on-cream-offcentre", (320, 240), (190, 90, 290, 225), 12, blue_on_cream),
        ("rgba-transparent", (256, 256), (60, 30, 200, 230), 22, transparent_rgba),
        ("palette", (120, 160), (20, 15, 100, 145), 11, palette),
        ("16bit", (200, 200), (40, 25, 160, 175), 16, sixteen_bit),
        ("grey-alpha", (180, 180), (40, 20, 140, 160), 14, grey_alpha),
        ("tiny", (32, 32), (6, 3, 26, 29), 3, black_on_white),
        ("large-pencil", (600, 800), (120, 150, 480, 650), 40, pencil),
        ("chalk", (240, 200), (60, 20, 180, 180), 15, chalk_on_board),
    ]
    for i, (name, size, box, width, colour) in enumerate(styles):
        for digit in (i, (i + 5) % 10):
            picture = colour(draw_digit(digit, size, box, width, rng))
            picture.save(OUT / f"{digit}-{name}.png", optimize=True)
    print(f"wrote {len(styles) * 2} pictures into {OUT}")


if __name__ == "__main__":
    main()
