"""Write a lossless (SOF3, predictor 1) 8-bit RGB JPEG: ITU T.81 annex H. Made lossless_sof3.jpg once:

python make_lossless_jpeg.py SOURCE.png lossless_sof3.jpg   # a 40x32 RGB gradient + light noise
"""

import struct
import sys

import numpy as np
from PIL import Image


def seg(marker, payload):
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def encode(rgb):
    h, w, _ = rgb.shape
    # DC Huffman table: categories 0..11, all 5-bit codes (0b00000..0b01011)
    bits = [0] * 16
    bits[4] = 12
    codes = {s: (s, 5) for s in range(12)}
    out = bytearray(b"\xff\xd8")
    out += seg(0xC3, struct.pack(">BHHB", 8, h, w, 3) + b"".join(bytes([i + 1, 0x11, 0]) for i in range(3)))
    out += seg(0xC4, bytes([0x00]) + bytes(bits) + bytes(range(12)))
    out += seg(0xDA, bytes([3]) + b"".join(bytes([i + 1, 0x00]) for i in range(3)) + bytes([1, 0, 0]))
    acc, n, data = 0, 0, bytearray()

    def put(v, k):
        nonlocal acc, n
        acc = (acc << k) | (v & ((1 << k) - 1))
        n += k
        while n >= 8:
            n -= 8
            b = (acc >> n) & 0xFF
            data.append(b)
            if b == 0xFF:
                data.append(0)

    x = rgb.astype(int)
    for r in range(h):
        for c in range(w):
            for k in range(3):
                if r == 0 and c == 0:
                    p = 128
                elif r == 0:
                    p = x[r, c - 1, k]
                elif c == 0:
                    p = x[r - 1, c, k]
                else:
                    p = x[r, c - 1, k]
                d = int(x[r, c, k]) - int(p)
                s = 0 if d == 0 else abs(d).bit_length()
                put(*codes[s])
                if s:
                    put(d if d > 0 else d + (1 << s) - 1, s)
    if n:
        put((1 << (8 - n)) - 1, 8 - n)
    out += data + b"\xff\xd9"
    return bytes(out)


rgb = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
with open(sys.argv[2], "wb") as f:
    f.write(encode(rgb))
