#!/usr/bin/python3
"""Reference images and PIL's own results for the Java image pipeline.

Writes into the fixture folder (committed, so CI needs no Python):
  rgb.png, gray.png, gray16.png, palette.png, rgba.png, photo.jpg, cmyk.jpg   inputs
  <name>.rgb            PIL's Image.open(f).convert("RGB") as raw bytes (what the reference's loader sees)
  rgb_<w>x<h>.rgb       PIL's convert("RGB").resize((w, h), BICUBIC) of rgb.png (torchvision's Resize path)
  gray16_highbyte.rgb   the high byte of gray16.png's samples (what we decode; PIL clips instead)
  sizes.txt             "<name> <width> <height>" per decoded image

Run with Debian's python3-pil:  /usr/bin/python3 pipeline/src/test/python/image_reference.py OUT_DIR
"""
import sys

import numpy as np
from PIL import Image


def main(out):
    rng = np.random.default_rng(7)
    h, w = 23, 37
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / (w - 1), yy * 255 / (h - 1), (xx + yy) % 32 * 8], axis=-1)
    rgb = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    alpha = ((xx * 7 + yy * 3) % 256).astype(np.uint8)

    images = {
        "rgb.png": Image.fromarray(rgb, "RGB"),
        "gray.png": Image.fromarray(rgb[..., 0], "L"),
        "gray16.png": Image.fromarray((rgb[..., 1].astype(np.int32) * 257).astype(np.int32), "I").convert("I;16"),
        "palette.png": Image.fromarray(rgb, "RGB").quantize(colors=16),
        "rgba.png": Image.fromarray(np.dstack([rgb, alpha]), "RGBA"),
        "photo.jpg": Image.fromarray(rgb, "RGB"),
        "cmyk.jpg": Image.fromarray(rgb, "RGB").convert("CMYK"),
    }
    sizes = []
    for name, im in images.items():
        if name.endswith(".jpg"):
            im.save(f"{out}/{name}", quality=95)
        else:
            im.save(f"{out}/{name}")
        decoded = Image.open(f"{out}/{name}").convert("RGB")
        decoded.tobytes()
        with open(f"{out}/{name.split('.')[0]}.rgb", "wb") as f:
            f.write(decoded.tobytes())
        sizes.append(f"{name} {decoded.width} {decoded.height}")
    # PIL clips 16-bit samples to 255 in convert("RGB"); we keep the high byte instead (documented deviation)
    g16 = np.array(Image.open(f"{out}/gray16.png")) >> 8
    with open(f"{out}/gray16_highbyte.rgb", "wb") as f:
        f.write(np.repeat(g16.astype(np.uint8)[..., None], 3, axis=-1).tobytes())
    src = Image.open(f"{out}/rgb.png").convert("RGB")
    for size in [(16, 16), (224, 224), (50, 9), (37, 60)]:
        with open(f"{out}/rgb_{size[0]}x{size[1]}.rgb", "wb") as f:
            f.write(src.resize(size, Image.BICUBIC).tobytes())
    with open(f"{out}/sizes.txt", "w") as f:
        f.write("\n".join(sizes) + "\n")
    print("PIL", Image.__version__ if hasattr(Image, "__version__") else "")


if __name__ == "__main__":
    main(sys.argv[1])
