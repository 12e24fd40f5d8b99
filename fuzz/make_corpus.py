#!/usr/bin/env python3
"""Regenerates the seed corpus (corpus/<target>/) and the dictionaries (dict/<target>.dict).

Python standard library only, deterministic: running it twice gives the same files. Everything is
built here byte by byte, except a few JPEG files and one lossy WebP (VP8) frame, whose encoders are
too large to write out: those were made once with Pillow 13.0 (quality 30-50, 8x8 to 16x16
gradients; see BLOBS) and are kept below as base64.

Usage: python3 fuzz/make_corpus.py    (from anywhere; rewrites fuzz/corpus/*/seed-* and fuzz/dict/)
Files in corpus/ whose names do not start with "seed-" (crash regressions, inputs kept from long
runs) are left alone.
"""

import base64
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

BLOBS = {
    'jpeg_baseline_420': (
        '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERX'
        'RTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj'
        'Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAQABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAA'
        'AAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAk'
        'M2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKT'
        'lJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QA'
        'HwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdh'
        'cRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hp'
        'anN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk'
        '5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDm7bT+nFa1tp/TitS20/pxWtbaf04rgdcrLsftqf/Z'
    ),
    'jpeg_baseline_444': (
        '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERX'
        'RTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj'
        'Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIAAgDAREAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAA'
        'AAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAk'
        'M2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKT'
        'lJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QA'
        'HwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdh'
        'cRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hp'
        'anN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk'
        '5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwCPS/DvT5P0rgliCstzDbU//9k='
    ),
    'jpeg_gray': (
        '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERX'
        'RTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/wAALCAAIAAgBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcI'
        'CQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcY'
        'GRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKj'
        'pKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/AI9L'
        '8O9Pk/Sv/9k='
    ),
    'jpeg_progressive': (
        '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERX'
        'RTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj'
        'Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wgARCAAQABADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAA'
        'BAX/xAAVAQEBAAAAAAAAAAAAAAAAAAABBP/aAAwDAQACEAMQAAABmrUud//EABYQAAMAAAAAAAAAAAAAAAAAAAAC'
        'A//aAAgBAQABBQJZizFmLM//xAAWEQADAAAAAAAAAAAAAAAAAAAAAwT/2gAIAQMBAT8Bnef/xAAVEQEBAAAAAAAA'
        'AAAAAAAAAAAAEv/aAAgBAgEBPwG3/8QAFBABAAAAAAAAAAAAAAAAAAAAIP/aAAgBAQAGPwIf/8QAFBABAAAAAAAA'
        'AAAAAAAAAAAAIP/aAAgBAQABPyEAH//aAAwDAQACAAMAAAAQC//EABYRAAMAAAAAAAAAAAAAAAAAAAAhMf/aAAgB'
        'AwEBPxCbP//EABURAQEAAAAAAAAAAAAAAAAAAAAB/9oACAECAQE/EK//xAAWEAADAAAAAAAAAAAAAAAAAAAAITH/'
        '2gAIAQEAAT8QkiSJIkj/2Q=='
    ),
    'jpeg_cmyk': (
        '/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwAQCwwODAoQDg0OEhEQExgoGhgWFhgxIyUdKDozPTw5Mzg3QEhcTkBEV0U3'
        'OFBtUVdfYmdoZz5NcXlwZHhcZWdj/8AAFAgACAAIBEMRAE0RAFkRAEsRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAAB'
        'AgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNi'
        'coIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SV'
        'lpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAA4E'
        'QwBNAFkASwAAPwA8B/8ALP8ACj/hCP8Apl+lc/YWPTivQK//2Q=='
    ),
    'jpeg_exif_orientation6': (
        '/9j/4AAQSkZJRgABAQAAAQABAAD/4QAiRXhpZgAATU0AKgAAAAgAAQESAAMAAAABAAYAAAAAAAD/2wBDABALDA4M'
        'ChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARES'
        'EhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAAR'
        'CAAIABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQA'
        'AAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdI'
        'SUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXG'
        'x8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL'
        '/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcY'
        'GRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOk'
        'paanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDP'
        'tvDvT5P0rXtvD3T5P0ooryfbz7nNl+Nraan/2Q=='
    ),
    'jpeg_restart': (
        '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERX'
        'RTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj'
        'Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAQABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAA'
        'AAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAk'
        'M2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKT'
        'lJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QA'
        'HwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdh'
        'cRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hp'
        'anN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk'
        '5ebn6Onq8vP09fb3+Pn6/90ABAAB/9oADAMBAAIRAxEAPwDm7bT+nFa1tp/TitS20/pxWtbaf04rgdcrLsftqf/Z'
    ),
    'webp_lossy': (
        'UklGRkQAAABXRUJQVlA4IDgAAACwAQCdASoQABAABABoJbACdAENUU8AAP7zMzEKG4XZPxWGgcdy0mZ8UlCG/l5/'
        'fmwft2wIUgAAAA=='
    ),
}


def blob(name):
    return base64.b64decode("".join(BLOBS[name]))


# ---------------------------------------------------------------------------------------------
# Raster formats


def gradient(w, h, channels, alpha=False):
    """Rows of 8-bit samples: a smooth gradient, plus a transparent corner when alpha is set."""
    rows = []
    for y in range(h):
        row = bytearray()
        for x in range(w):
            px = [x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(w + h - 2, 1)]
            px = px[:channels] if channels < 3 else px
            if alpha:
                px.append(0 if x < w // 2 and y < h // 2 else 255)
            row += bytes(px)
        rows.append(bytes(row))
    return rows


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_idat(rows, filter_type=0):
    return zlib.compress(b"".join(bytes([filter_type]) + r for r in rows), 9)


def png(w, h, color_type, rows, depth=8, interlace=0, extra=b"", idat=None):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + extra
        + png_chunk(b"IDAT", idat if idat is not None else png_idat(rows))
        + png_chunk(b"IEND", b"")
    )


def adam7_rows(w, h, bpp, pixel):
    """The seven reduced images of an Adam7-interlaced PNG, filter byte 0 on every row."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    out = bytearray()
    for x0, y0, dx, dy in passes:
        xs = range(x0, w, dx)
        for y in range(y0, h, dy):
            if len(xs):
                out += b"\0" + b"".join(pixel(x, y) for x in xs)
    return zlib.compress(bytes(out), 9)


def exif_orientation(value, big_endian=False):
    """A TIFF-structured EXIF block with one IFD entry: Orientation."""
    if big_endian:
        return b"MM\0*" + struct.pack(">IHHHIHHI", 8, 1, 0x0112, 3, 1, value, 0, 0)
    return b"II*\0" + struct.pack("<IHHHIHHI", 8, 1, 0x0112, 3, 1, value, 0, 0)


def apng(w, h, frames):
    """An animated PNG: the first frame is the default image, the others come as fdAT."""
    seq = 0
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
    out += png_chunk(b"acTL", struct.pack(">II", len(frames), 0))
    for i, rows in enumerate(frames):
        out += png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq, w, h, 0, 0, 1, 10, 0, 0))
        seq += 1
        if i == 0:
            out += png_chunk(b"IDAT", png_idat(rows))
        else:
            out += png_chunk(b"fdAT", struct.pack(">I", seq) + png_idat(rows))
            seq += 1
    return out + png_chunk(b"IEND", b"")


def lzw(indices, min_code_size):
    """GIF's variable-width LZW, as a series of sub-blocks."""
    clear, eoi = 1 << min_code_size, (1 << min_code_size) + 1
    width, table, next_code = min_code_size + 1, {}, eoi + 1
    bits = nbits = 0
    out = bytearray()

    def emit(code):
        nonlocal bits, nbits
        bits |= code << nbits
        nbits += width
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8

    emit(clear)
    prefix = (indices[0],)
    for k in indices[1:]:
        word = prefix + (k,)
        if word in table or len(word) == 1:
            prefix = word
            continue
        emit(table[prefix] if len(prefix) > 1 else prefix[0])
        if next_code < 4096:
            table[word] = next_code
            next_code += 1
            if next_code > (1 << width) and width < 12:
                width += 1
        else:
            emit(clear)
            table, next_code, width = {}, eoi + 1, min_code_size + 1
        prefix = (k,)
    emit(table[prefix] if len(prefix) > 1 else prefix[0])
    emit(eoi)
    if nbits:
        out.append(bits & 0xFF)
    blocks = bytearray([min_code_size])
    for i in range(0, len(out), 255):
        blocks += bytes([len(out[i : i + 255])]) + out[i : i + 255]
    return bytes(blocks + b"\0")


def gif(w, h, frames, loop=True, interlace=False, version=b"GIF89a", transparent=None):
    palette = bytes(c for i in range(16) for c in (i * 17, 255 - i * 17, (i * 53) % 256))
    out = version + struct.pack("<HHBBB", w, h, 0xF3, 0, 0) + palette  # 16-colour global table
    if loop:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\0\0\0"
    for frame in frames:
        flags = 0x01 if transparent is not None else 0
        out += b"\x21\xf9\x04" + bytes([flags | 0x08]) + struct.pack("<H", 10) + bytes([transparent or 0, 0])
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0x40 if interlace else 0)
        out += lzw(frame, 4)
    return out + b"\x3b"


def bmp(w, h):
    row = bytes((x * 40) % 256 for x in range(w * 3))
    row += b"\0" * (-len(row) % 4)
    pixels = row * h
    header = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(header) + len(pixels), 0, 0, 54) + header + pixels


def ico(payload, w, h):
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", w, h, 0, 0, 1, 32, len(payload), 22) + payload


def tiff(w, h):
    pixels = bytes((i * 7) % 256 for i in range(w * h))
    entries = [
        (256, 3, 1, w), (257, 3, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, 8), (277, 3, 1, 1), (278, 3, 1, h), (279, 4, 1, len(pixels)),
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\0" + struct.pack("<I", 8 + len(pixels)) + pixels + ifd


class BitWriter:
    """VP8L's least-significant-bit-first bit stream."""

    def __init__(self):
        self.value = self.count = 0

    def put(self, value, n):
        self.value |= value << self.count
        self.count += n

    def bytes(self):
        return self.value.to_bytes((self.count + 7) // 8, "little")


def vp8l(w, h, greens, subtract_green=False, alpha=False):
    """A lossless WebP bitstream whose prefix codes are all "simple" ones: red, blue, alpha and
    distance have one symbol (so take no bits); green has one or two, one bit per pixel."""
    bw = BitWriter()
    bw.put(0x2F, 8)
    bw.put(w - 1, 14)
    bw.put(h - 1, 14)
    bw.put(1 if alpha else 0, 1)
    bw.put(0, 3)
    if subtract_green:
        bw.put(1, 1)
        bw.put(2, 2)
    bw.put(0, 1)  # no (more) transforms
    bw.put(0, 1)  # no colour cache
    bw.put(0, 1)  # no meta prefix codes

    def simple(symbols):
        bw.put(1, 1)
        bw.put(len(symbols) - 1, 1)
        bw.put(1, 1)  # first symbol written with 8 bits
        for s in symbols:
            bw.put(s, 8)

    simple(greens)
    simple([0x40])  # red
    simple([0x80])  # blue
    simple([0xFF])  # alpha
    simple([0])  # distance
    if len(greens) == 2:
        for y in range(h):
            for x in range(w):
                bw.put((x // 2 + y) % 2, 1)
    return bw.bytes()


def riff_chunk(kind, data):
    return kind + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def webp(*chunks):
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def vp8x(flags, w, h):
    return riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little"))


def anmf(x, y, w, h, frame, duration=100, flags=0):
    head = (x // 2).to_bytes(3, "little") + (y // 2).to_bytes(3, "little")
    head += (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    head += duration.to_bytes(3, "little") + bytes([flags])
    return riff_chunk(b"ANMF", head + frame)


def truncated(data, keep=0.5):
    return data[: max(1, int(len(data) * keep))]


# ---------------------------------------------------------------------------------------------
# SVG

NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'

SVGS = {
    "minimal": '<svg xmlns="http://www.w3.org/2000/svg"/>',
    "viewbox": f'<svg {NS} viewBox="0 0 20 10"><rect x="1" y="1" width="18" height="8" fill="#c00"/></svg>',
    "sized": f'<svg {NS} width="70" height="30"><circle cx="15" cy="15" r="10" fill="blue" stroke="red"/></svg>',
    "percent": f'<svg {NS} width="100%" height="30"><ellipse cx="5" cy="5" rx="4" ry="2"/></svg>',
    "units": f'<svg {NS} width="2in" height="3em" viewBox="-5 -5 10 10"><path d="M0 0L4 4Q2 6 0 4Z"/></svg>',
    "huge_declared": f'<svg {NS} width="30000" height="30000" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>',
    "prolog": '\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<!-- exported -->\n'
    '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
    f'<svg {NS} viewBox="0 0 8 8"><rect width="8" height="8" fill="green"/></svg>',
    "entities_refused": '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
    f'<svg {NS}><text>&b;</text></svg>',
    "text": f'<svg {NS} viewBox="0 0 100 40"><text x="5" y="30" font-size="24" font-family="serif" '
    'font-weight="bold">Ag é 山 😀<tspan dx="2" fill="red">x</tspan></text></svg>',
    "text_path": f'<svg {NS} viewBox="0 0 100 100"><defs><path id="p" d="M10 50C30 0 70 100 90 50"/></defs>'
    '<text font-size="10"><textPath xlink:href="#p">around the curve</textPath></text></svg>',
    "gradients": f'<svg {NS} viewBox="0 0 10 10"><defs><linearGradient id="g" x2="1" gradientTransform="rotate(30)">'
    '<stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue" stop-opacity=".5"/></linearGradient>'
    '<radialGradient id="r" href="#g" fx=".3"/></defs>'
    '<rect width="10" height="5" fill="url(#g)"/><rect y="5" width="10" height="5" fill="url(#r)"/></svg>',
    "clip_mask_filter": f'<svg {NS} viewBox="0 0 10 10"><defs><clipPath id="c"><circle cx="5" cy="5" r="4"/></clipPath>'
    '<mask id="m"><rect width="10" height="10" fill="white" opacity=".5"/></mask>'
    '<filter id="f" x="-1" y="-1" width="3" height="3"><feGaussianBlur stdDeviation="1"/><feOffset dx="1"/>'
    '<feColorMatrix type="saturate" values=".2"/></filter></defs>'
    '<g clip-path="url(#c)" mask="url(#m)" filter="url(#f)"><rect width="10" height="10" fill="orange"/></g></svg>',
    "pattern": f'<svg {NS} viewBox="0 0 10 10"><defs><pattern id="p" width="2" height="2" patternUnits="userSpaceOnUse">'
    '<rect width="1" height="1"/></pattern></defs><rect width="10" height="10" fill="url(#p)"/></svg>',
    "marker": f'<svg {NS} viewBox="0 0 10 10"><defs><marker id="m" markerWidth="2" markerHeight="2" refX="1" refY="1">'
    '<circle cx="1" cy="1" r="1"/></marker></defs>'
    '<polyline points="1,1 3,5 5,1 7,5 9,1" fill="none" stroke="black" marker-mid="url(#m)"/></svg>',
    "use_chain": f'<svg {NS} viewBox="0 0 10 10"><defs><rect id="a" width="1" height="1"/>'
    '<g id="b"><use href="#a"/><use href="#a" x="1"/></g><g id="c"><use href="#b"/><use href="#b" y="1"/></g>'
    '<g id="d"><use href="#c"/><use href="#c" x="2"/></g></defs><use xlink:href="#d"/></svg>',
    "use_bomb": f'<svg {NS}><defs><g id="a0"><rect width="1" height="1"/></g>'
    + "".join(f'<g id="a{i}"><use href="#a{i - 1}"/><use href="#a{i - 1}"/></g>' for i in range(1, 24))
    + '</defs><use href="#a23"/></svg>',
    "use_cycle": f'<svg {NS}><g id="a"><use href="#b"/></g><g id="b"><use href="#a"/></g></svg>',
    "deep_nesting": f'<svg {NS} viewBox="0 0 1 1">' + "<g>" * 300 + '<rect width="1" height="1"/>' + "</g>" * 300 + "</svg>",
    "many_elements": f'<svg {NS} viewBox="0 0 100 100">' + '<g/>' * 4000 + "</svg>",
    "images": f'<svg {NS} viewBox="0 0 4 4"><image width="4" height="4" href="/etc/passwd"/>'
    '<image width="4" height="4" xlink:href="data:image/png;base64,iVBORw0KGgo="/>'
    '<image width="4" height="4" href="data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27/%3E"/></svg>',
    "css": f'<svg {NS} viewBox="0 0 10 10"><style>@import url(x.css); rect {{ fill: red; clip-path: url(#c) }}'
    ' .a > * {{ stroke: #0f0; stroke-width: 2 }}</style><clipPath id="c" style="clip-path:url(#c)"><rect width="5" height="5"/>'
    '</clipPath><g class="a"><rect width="10" height="10"/></g></svg>',
    "script_link_anim": f'<svg {NS} viewBox="0 0 10 10" onload="alert(1)"><script>alert(2)</script>'
    '<a href="javascript:alert(3)"><rect width="10" height="10"><animate attributeName="x" to="5" dur="1s"/></rect></a>'
    '<foreignObject width="10" height="10"><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject></svg>',
    "switch_symbol": f'<svg {NS} viewBox="0 0 10 10"><symbol id="s" viewBox="0 0 2 2"><circle cx="1" cy="1" r="1"/></symbol>'
    '<switch><use href="#s" width="10" height="10" systemLanguage="en"/><rect width="10" height="10"/></switch></svg>',
    "transform_extremes": f'<svg {NS} viewBox="0 0 10 10"><g transform="scale(1e30) rotate(45) skewX(89.9999) matrix(0 0 0 0 0 0)">'
    '<rect width="1e38" height="-1" rx="1e38"/></g><path d="M1e308 1e308 A1 1 0 1 1 -1e308 NaN"/></svg>',
    "stroke_dash": f'<svg {NS} viewBox="0 0 10 10"><path d="M0 0 L10 10" stroke="black" stroke-dasharray="0.0001 0.0001"'
    ' stroke-width="0.5" stroke-linejoin="miter-clip" stroke-miterlimit="1000"/></svg>',
    "not_svg_root": '<html><svg xmlns="http://www.w3.org/2000/svg"/></html>',
    "unterminated": f'<svg {NS} viewBox="0 0 10 10"><rect width="10" height="',
}


# ---------------------------------------------------------------------------------------------
# Corpus per target


def image_pipeline():
    seeds = {}
    rgb = gradient(8, 8, 3)
    seeds["png_rgb_8x8"] = png(8, 8, 2, rgb)
    seeds["png_rgba_10x6"] = png(10, 6, 6, gradient(10, 6, 3, alpha=True))
    seeds["png_gray_1x1"] = png(1, 1, 0, [b"\x80"])
    seeds["png_gray_alpha"] = png(4, 4, 4, [bytes([i * 60, 255 - i * 60] * 4) for i in range(4)])
    seeds["png_gray16"] = png(4, 3, 0, [bytes(range(r * 8, r * 8 + 8)) for r in range(3)], depth=16)
    seeds["png_rgba16"] = png(2, 2, 6, [bytes(range(16)), bytes(range(16, 32))], depth=16)
    seeds["png_gray1bit"] = png(16, 2, 0, [b"\xaa\x55", b"\x0f\xf0"], depth=1)
    palette = png_chunk(b"PLTE", bytes(range(48))) + png_chunk(b"tRNS", bytes([0, 128, 255]))
    seeds["png_palette_trns"] = png(4, 4, 3, [bytes([i % 16, (i + 1) % 16]) for i in range(4)], depth=4, extra=palette)
    seeds["png_filters"] = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 6, 5, 8, 2, 0, 0, 0)) + png_chunk(
        b"IDAT", zlib.compress(b"".join(bytes([f % 5]) + r for f, r in enumerate(gradient(6, 5, 3))))
    ) + png_chunk(b"IEND", b"")
    seeds["png_interlaced"] = png(9, 9, 2, None, interlace=1, idat=adam7_rows(9, 9, 3, lambda x, y: bytes([x * 28, y * 28, 99])))
    seeds["png_exif_rotate6"] = png(8, 4, 2, gradient(8, 4, 3), extra=png_chunk(b"eXIf", exif_orientation(6, big_endian=True)))
    seeds["png_exif_rotate8"] = png(4, 8, 6, gradient(4, 8, 3, alpha=True), extra=png_chunk(b"eXIf", exif_orientation(8)))
    ancillary = (
        png_chunk(b"gAMA", struct.pack(">I", 45455))
        + png_chunk(b"sRGB", b"\0")
        + png_chunk(b"tEXt", b"Comment\0GPS secrets")
        + png_chunk(b"zTXt", b"Title\0\0" + zlib.compress(b"hello"))
        + png_chunk(b"iCCP", b"icc\0\0" + zlib.compress(b"\0" * 128))
        + png_chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))
    )
    seeds["png_ancillary"] = png(3, 3, 2, gradient(3, 3, 3), extra=ancillary)
    seeds["png_huge_declared"] = png(30000, 30000, 2, [], idat=zlib.compress(b""))
    seeds["png_wide_declared"] = png(16385, 1, 0, [], idat=zlib.compress(b""))
    seeds["png_zero_width"] = png(0, 4, 0, [], idat=zlib.compress(b""))
    seeds["png_bad_crc"] = seeds["png_rgb_8x8"][:-5] + b"\0\0\0\0\0"
    seeds["png_truncated"] = truncated(seeds["png_rgb_8x8"], 0.7)
    seeds["apng_2_frames"] = apng(6, 6, [gradient(6, 6, 3, alpha=True), [bytes(24)] * 6])
    seeds["apng_truncated"] = truncated(seeds["apng_2_frames"], 0.8)

    seeds["jpeg_baseline_420"] = blob("jpeg_baseline_420")
    seeds["jpeg_baseline_444"] = blob("jpeg_baseline_444")
    seeds["jpeg_gray"] = blob("jpeg_gray")
    seeds["jpeg_progressive"] = blob("jpeg_progressive")
    seeds["jpeg_cmyk"] = blob("jpeg_cmyk")
    seeds["jpeg_exif_rotate6"] = blob("jpeg_exif_orientation6")
    seeds["jpeg_restart_markers"] = blob("jpeg_restart")
    seeds["jpeg_truncated_scan"] = truncated(blob("jpeg_baseline_420"), 0.8)
    seeds["jpeg_truncated_header"] = truncated(blob("jpeg_baseline_420"), 0.1)
    seeds["jpeg_progressive_truncated"] = truncated(blob("jpeg_progressive"), 0.6)
    seeds["jpeg_soi_only"] = b"\xff\xd8\xff\xd9"

    idx = [(x + y) % 16 for y in range(8) for x in range(8)]
    seeds["gif_static"] = gif(8, 8, [idx], loop=False, version=b"GIF87a")
    seeds["gif_animated"] = gif(8, 8, [idx, [15 - i for i in idx], [i // 2 for i in idx]], transparent=3)
    seeds["gif_interlaced"] = gif(8, 8, [idx], interlace=True)
    seeds["gif_long_lzw"] = gif(64, 64, [[(x * y) % 16 for y in range(64) for x in range(64)]])
    seeds["gif_truncated"] = truncated(seeds["gif_animated"], 0.7)

    seeds["webp_lossless_solid"] = webp(riff_chunk(b"VP8L", vp8l(16, 16, [0x20])))
    seeds["webp_lossless_two_tone"] = webp(riff_chunk(b"VP8L", vp8l(8, 8, [0x10, 0xF0], alpha=True)))
    seeds["webp_lossless_subtract_green"] = webp(riff_chunk(b"VP8L", vp8l(5, 3, [0x30, 0x90], subtract_green=True)))
    seeds["webp_lossy"] = blob("webp_lossy")
    vp8_frame = blob("webp_lossy")[12:]  # the VP8 chunk, header and all
    seeds["webp_lossy_alpha"] = webp(vp8x(0x10, 16, 16), riff_chunk(b"ALPH", b"\0" + bytes(range(0, 256))), vp8_frame)
    seeds["webp_lossy_alpha_filtered"] = webp(
        vp8x(0x10, 16, 16), riff_chunk(b"ALPH", b"\x04" + bytes((i * 3) % 256 for i in range(256))), vp8_frame
    )
    frame_a = riff_chunk(b"VP8L", vp8l(4, 4, [0x00, 0xFF]))
    frame_b = riff_chunk(b"VP8L", vp8l(2, 2, [0x80]))
    seeds["webp_animated"] = webp(
        vp8x(0x12, 6, 6),
        riff_chunk(b"ANIM", b"\xff\xff\xff\x00\x00\x00"),
        anmf(0, 0, 4, 4, frame_a),
        anmf(2, 2, 2, 2, frame_b, flags=0x03),
    )
    seeds["webp_animated_lossy"] = webp(vp8x(0x02, 16, 16), riff_chunk(b"ANIM", b"\0" * 6), anmf(0, 0, 16, 16, vp8_frame))
    seeds["webp_exif_rotate6"] = webp(
        vp8x(0x08, 8, 4), riff_chunk(b"VP8L", vp8l(8, 4, [0x40, 0xC0])), riff_chunk(b"EXIF", exif_orientation(6))
    )
    seeds["webp_truncated"] = truncated(seeds["webp_lossy"], 0.6)
    seeds["webp_vp8x_no_image"] = webp(vp8x(0x00, 1, 1))

    seeds["bmp_refused"] = bmp(3, 2)
    seeds["ico_bmp_refused"] = ico(bmp(2, 2)[14:], 2, 2)
    seeds["ico_png_refused"] = ico(png(2, 2, 2, gradient(2, 2, 3)), 2, 2)
    seeds["tiff_refused"] = tiff(4, 4)
    seeds["tiff_be_refused"] = b"MM\0*\0\0\0\x08" + b"\0" * 8
    seeds["heic_refused"] = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 16
    seeds["avif_refused"] = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf" + b"\0" * 16
    seeds["pdf_refused"] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"

    for name, doc in SVGS.items():
        seeds["svg_" + name] = doc.encode()
    seeds["svg_truncated"] = truncated(SVGS["gradients"].encode(), 0.6)
    seeds["svg_latin1_not_utf8"] = '<svg xmlns="http://www.w3.org/2000/svg"><text>caf\xe9</text></svg>'.encode("latin-1")
    seeds["empty"] = b""
    seeds["text"] = b"plain text is not an image"
    return seeds


BOUNDARY = b"AvatardFuzzBoundary"


def part(headers, body, boundary=BOUNDARY, eol=b"\r\n"):
    return b"--" + boundary + eol + eol.join(headers) + eol + eol + body + eol


def file_part(body, name=b"image", filename=b"avatar.png", content_type=b"image/png"):
    headers = [b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename + b'"']
    if content_type:
        headers.append(b"Content-Type: " + content_type)
    return part(headers, body)


def field(name, value):
    return part([b'Content-Disposition: form-data; name="' + name + b'"'], value)


def end(boundary=BOUNDARY, eol=b"\r\n"):
    return b"--" + boundary + b"--" + eol


def multipart_upload():
    """Two control bytes (content-type mode | file-limit << 2, chunk size), then the body."""
    image = png(2, 2, 2, gradient(2, 2, 3))
    valid = file_part(image) + field(b"userId", b"rocket.cat") + end()
    seeds = {
        "valid": b"\x00\x00" + valid,
        "valid_quoted_boundary": b"\x01\x00" + valid,
        "valid_chunked_1": b"\x00\x01" + valid,
        "valid_chunked_7": b"\x00\x07" + valid,
        "valid_chunked_64": b"\x00\x40" + valid,
        "fields_first": b"\x00\x00" + field(b"username", b"alice") + field(b"userId", b"x") + file_part(image) + end(),
        "no_file": b"\x00\x00" + field(b"userId", b"abc") + end(),
        "empty_form": b"\x00\x00" + end(),
        "empty_body": b"\x00\x00",
        "two_files": b"\x00\x00" + file_part(image) + file_part(image, filename=b"b.png") + end(),
        "wrong_file_field": b"\x00\x00" + file_part(image, name=b"avatar") + end(),
        "file_too_large_for_100": b"\x08\x00" + file_part(bytes(200)) + end(),
        "file_at_limit_zero": b"\x0c\x00" + file_part(b"") + end(),
        "many_parts": b"\x00\x00" + b"".join(field(b"f%d" % i, b"v") for i in range(40)) + file_part(image) + end(),
        "duplicate_fields": b"\x00\x00" + field(b"userId", b"a") + field(b"userId", b"b") + file_part(image) + end(),
        "preamble_epilogue": b"\x00\x00preamble text\r\n" + valid + b"epilogue\r\n",
        "lf_only": b"\x00\x00" + part([b'Content-Disposition: form-data; name="image"; filename="a"'], image, eol=b"\n")
        + end(eol=b"\n"),
        "no_final_boundary": b"\x00\x00" + file_part(image),
        "unterminated_headers": b"\x00\x00--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="image"',
        "wrong_boundary": b"\x00\x00" + part([b'Content-Disposition: form-data; name="image"; filename="a"'], image, boundary=b"other")
        + end(b"other"),
        "boundary_in_content": b"\x00\x00" + file_part(b"--" + BOUNDARY[:-1] + b"\r\n--" + BOUNDARY + b"x") + end(),
        "nested_multipart": b"\x00\x00"
        + part(
            [b'Content-Disposition: form-data; name="image"; filename="n"', b"Content-Type: multipart/mixed; boundary=inner"],
            b"--inner\r\nContent-Type: image/png\r\n\r\n" + image + b"\r\n--inner--\r\n",
        )
        + end(),
        "header_variants": b"\x00\x00"
        + part(
            [
                b"content-disposition:form-data;name=image;filename*=UTF-8''%E5%B1%B1.png",
                b"Content-Type: image/png; charset=binary",
                b"X-Folded: a\r\n b",
                b"Content-Transfer-Encoding: base64",
            ],
            image,
        )
        + part([b'Content-Disposition: form-data; name="userId"', b"Content-Type: text/plain; charset=iso-8859-1"], b"caf\xe9")
        + part([b'Content-Disposition: form-data; name="esc\\"aped"; filename=""'], b"")
        + part([b"Content-Disposition: attachment"], b"no name")
        + end(),
        "long_header": b"\x00\x00--" + BOUNDARY + b"\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\nbody\r\n" + end(),
        "no_content_type": b"\x03\x00" + valid,
    }
    # Mode 2: the first line of the body is the whole Content-Type header.
    for name, ct in {
        "ct_missing_boundary": b"multipart/form-data",
        "ct_empty_boundary": b"multipart/form-data; boundary=",
        "ct_not_multipart": b"application/json",
        "ct_uppercase": b"MULTIPART/FORM-DATA; BOUNDARY=AvatardFuzzBoundary",
        "ct_boundary_first": b"multipart/form-data;boundary=AvatardFuzzBoundary;charset=utf-8",
        "ct_long_boundary": b"multipart/form-data; boundary=" + b"b" * 100,
        "ct_mixed": b"multipart/mixed; boundary=AvatardFuzzBoundary",
        "ct_unicode": "multipart/form-data; boundary=\u00e9t\u00e9".encode(),
    }.items():
        seeds[name] = b"\x02\x00" + ct + b"\n" + valid
    return seeds


def json_body():
    """One byte choosing the Content-Type (see json_body.rs), then the body."""
    J, JU, TEXT, FORM, NONE, MULTI, RAW = b"\x00", b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"\x06"
    seeds = {
        "set_avatar_url": J + b'{"avatarUrl":"https://example.com/a.png"}',
        "set_avatar_null": JU + b'{"avatarUrl":null,"userId":"rocket.cat","username":null}',
        "set_avatar_wrong_type": J + b'{"avatarUrl":42}',
        "login_user": J + b'{"user":"admin","password":"hunter2"}',
        "login_digest": J + b'{"username":"u","password":{"digest":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","algorithm":"sha-256"}}',
        "login_resume": J + b'{"resume":"tok"}',
        "register": J + b'{"username":"alice","email":"a@example.com","pass":"pw","name":"Alice","customFields":{"a":1}}',
        "create": J + b'{"email":"b@example.com","name":"Bob","password":"pw","username":"bob","active":true,'
        b'"roles":["user","admin"],"verified":false,"customFields":{},"joinDefaultChannels":false,"bio":"","fields":"{}"}',
        "create_bad_roles": J + b'{"email":"e","name":"n","password":"p","username":"u","roles":["a",1]}',
        "create_roles_not_array": J + b'{"email":"e","name":"n","password":"p","username":"u","roles":"admin"}',
        "create_missing": J + b'{"email":"e"}',
        "create_extra": J + b'{"email":"e","name":"n","password":"p","username":"u","isAdmin":true}',
        "permissions_update": J + b'{"permissions":[{"_id":"create-user","roles":["admin"]}]}',
        "setting_value": J + b'{"value":true}',
        "array_top": J + b"[1,2,3]",
        "string_top": J + b'"just a string"',
        "null_top": J + b"null",
        "numbers": J + b'{"a":1e400,"b":-0,"c":1.7976931348623157e308,"d":18446744073709551616,"e":-9223372036854775809}',
        "escapes": J + b'{"userId":"\\u0000\\ud83d\\ude00\\ud800\\n\\"","username":"\\/"}',
        "duplicate_keys": J + b'{"avatarUrl":"a","avatarUrl":null}',
        "invalid_json": J + b'{"avatarUrl":',
        "trailing_garbage": J + b'{"a":1} x',
        "bom": J + b'\xef\xbb\xbf{"a":1}',
        "invalid_utf8": J + b'{"userId":"\xff\xfe"}',
        "nested_arrays_100": J + b"[" * 100 + b"]" * 100,
        "nested_arrays_129": J + b"[" * 129 + b"]" * 129,
        "nested_arrays_10000": J + b"[" * 10000,
        "nested_objects": J + b'{"a":' * 200 + b"1" + b"}" * 200,
        "text_body": TEXT + b"avatarUrl=https://example.com",
        "form_body": FORM + b"avatarUrl=https%3A%2F%2Fexample.com&userId=x",
        "no_content_type": NONE + b'{"avatarUrl":"x"}',
        "no_content_type_empty": NONE,
        "multipart": MULTI + b'--x\r\nContent-Disposition: form-data; name="userId"\r\n\r\nabc\r\n--x--\r\n',
        "raw_vendor_json": RAW + b'application/vnd.api+json; charset=utf-8\n{"userId":"x"}',
        "raw_upper_json": RAW + b'APPLICATION/JSON\n{"userId":"x"}',
        "raw_multipart_upper": RAW + b"Multipart/Form-Data; boundary=y\n{}",
        "raw_non_ascii": RAW + b'application/json; x=\xe9\n{"userId":"x"}',
        "raw_control": RAW + b'application/json\x01\n{"userId":"x"}',
        "text_invalid_utf8": TEXT + b"\xc3\x28\xa0\xa1",
    }
    return seeds


def initials():
    """One flag byte (bit 0: all initials, bit 1: first line is ?size=, bits 2-3: rasterise), then
    the name."""
    names = [
        "arthur", "Bob", "yan", "\u5c71\u7530 \u592a\u90ce", "?", "", "\U0001F600 smile", "\u00dftra\u00dfe",
        "arthur void jackson billie", "a  b c", "<b>bold</b>", "&co", "&eacute;mile", "&#x41;&#65;&#0;&#xD800;",
        "<img src=x onerror=alert(1)>mallory", "<script>x</script>eve", "<!-- c -->x", "<![CDATA[y]]>z",
        "<textarea>t</textarea>u", "<i>a</i> <u>b</u> c", "\ufb03x", "\u0130stanbul", "\x01ctl", "\ufffe",
        "\u0301combining", "ǅ", "A" * 300,
    ]
    seeds = {}
    for i, name in enumerate(names):
        seeds["name_%02d" % i] = bytes([0]) + name.encode()
        seeds["name_%02d_all_png" % i] = bytes([1 | 4]) + name.encode()
    for i, size in enumerate(["64", "0x40", " 100", "-3", "2000", "12abc", "99999999999999999999999", "1e3", "", "NaN", "\u0661\u0662"]):
        seeds["size_%02d_jpeg" % i] = bytes([2 | 8]) + size.encode() + b"\nRocket Cat"
    return seeds


# ---------------------------------------------------------------------------------------------
# Dictionaries (libFuzzer's -dict format)

DICTS = {
    "image_pipeline": [
        b"\x89PNG\r\n\x1a\n", b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tRNS", b"acTL", b"fcTL", b"fdAT", b"eXIf",
        b"iCCP", b"gAMA", b"zTXt", b"sBIT", b"cICP", b"\xff\xd8\xff", b"\xff\xdb", b"\xff\xc0", b"\xff\xc2", b"\xff\xc4",
        b"\xff\xda", b"\xff\xd9", b"\xff\xdd", b"\xff\xe1", b"\xff\xee", b"Exif\0\0", b"Adobe", b"GIF89a", b"GIF87a",
        b"NETSCAPE2.0", b"\x21\xf9\x04", b"\x21\xfe", b"RIFF", b"WEBP", b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM",
        b"ANMF", b"EXIF", b"ICCP", b"\x9d\x01\x2a", b"II*\0", b"MM\0*", b"\x01\x12",
        b"<svg", b"</svg>", b"xmlns=\"http://www.w3.org/2000/svg\"", b"viewBox=\"", b"width=\"", b"height=\"",
        b"<use href=\"#", b"xlink:href=\"", b"<defs>", b"<g>", b"</g>", b"<text>", b"<tspan", b"<textPath", b"<marker",
        b"<clipPath", b"<mask", b"<filter", b"<feGaussianBlur", b"<feTurbulence", b"<feImage", b"<pattern",
        b"<linearGradient", b"<radialGradient", b"<stop", b"<image", b"<symbol", b"<switch", b"<style>",
        b"transform=\"", b"url(#", b"stroke-dasharray=\"", b"font-size=\"", b"<!DOCTYPE", b"<!ENTITY", b"<?xml",
    ],
    "multipart_upload": [
        b"--AvatardFuzzBoundary", b"--AvatardFuzzBoundary--", b"\r\n", b"\r\n\r\n", b"Content-Disposition: ",
        b"form-data", b"name=\"image\"", b"filename=\"", b"filename*=UTF-8''", b"Content-Type: ", b"image/png",
        b"text/plain; charset=", b"boundary=", b"multipart/form-data", b"multipart/mixed", b"userId", b"username",
    ],
    "json_body": [
        b"{", b"}", b"[", b"]", b"\"", b":", b",", b"null", b"true", b"false", b"\\u", b"\\ud83d\\ude00", b"1e400",
        b"\"avatarUrl\"", b"\"userId\"", b"\"username\"", b"\"user\"", b"\"password\"", b"\"digest\"",
        b"\"algorithm\"", b"\"sha-256\"", b"\"resume\"", b"\"email\"", b"\"pass\"", b"\"name\"", b"\"roles\"",
        b"\"active\"", b"\"verified\"", b"\"customFields\"", b"\"secret\"", b"\"reason\"", b"\"fields\"",
        b"application/json", b"multipart/form-data", b"charset=",
    ],
    "initials": [
        b"<b>", b"</b>", b"<script>", b"</script>", b"<style>", b"<textarea>", b"<option>", b"<!--", b"-->",
        b"<![CDATA[", b"]]>", b"&amp;", b"&lt;", b"&gt;", b"&#x", b"&#", b"&eacute;", b"&nbsp;", b" ", b"\n",
        b"0x", b"\xf0\x9f\x98\x80", b"\xc3\x9f",
    ],
}


def dict_entry(token):
    text = "".join(chr(c) if 32 <= c < 127 and c not in (34, 92) else "\\x%02X" % c for c in token)
    return '"%s"\n' % text


def main():
    targets = {
        "image_pipeline": image_pipeline(),
        "multipart_upload": multipart_upload(),
        "json_body": json_body(),
        "initials": initials(),
    }
    for target, seeds in targets.items():
        directory = os.path.join(HERE, "corpus", target)
        os.makedirs(directory, exist_ok=True)
        for old in os.listdir(directory):
            if old.startswith("seed-"):
                os.remove(os.path.join(directory, old))
        for name, data in seeds.items():
            assert len(data) < 20_000, (target, name, len(data))
            with open(os.path.join(directory, "seed-" + name), "wb") as f:
                f.write(data)
    os.makedirs(os.path.join(HERE, "dict"), exist_ok=True)
    for target, tokens in DICTS.items():
        with open(os.path.join(HERE, "dict", target + ".dict"), "w") as f:
            f.write("# libFuzzer dictionary for %s; generated by make_corpus.py\n" % target)
            f.writelines(dict_entry(t) for t in tokens)
    total = sum(len(s) for seeds in targets.values() for s in seeds.values())
    print("%d seeds, %d bytes" % (sum(len(s) for s in targets.values()), total))


if __name__ == "__main__":
    main()
