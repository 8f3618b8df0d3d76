"""Headless Chromium for the dashboard tests: find it, dump a page's DOM, take a screenshot, read the PNG.

Found without the Makefile: $CHROMIUM if set, else the first of the usual names on PATH. CI installs it with
`apt-get install -y chromium` (Debian); a missing browser is an error, never a skip.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class ChromiumMissingError(RuntimeError):
    pass


def find_chromium() -> str:
    configured = os.environ.get("CHROMIUM")
    if configured:
        if not (Path(configured).is_file() and os.access(configured, os.X_OK)):
            raise ChromiumMissingError(f"CHROMIUM={configured} is not an executable file")
        return configured
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumMissingError(
        "headless Chromium is needed for the dashboard browser test and none was found "
        f"(looked for $CHROMIUM and {', '.join(NAMES)} on PATH): install it with "
        "`apt-get update && apt-get install -y chromium`"
    )


def run(
    browser: str, profile: Path, url: str, *extra: str, timeout: float = 90
) -> subprocess.CompletedProcess:
    """One headless Chromium run with a fresh profile directory."""
    command = [browser, *FLAGS, f"--user-data-dir={profile}", *extra, url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result


def dump_dom(browser: str, profile: Path, url: str) -> str:
    return run(browser, profile, url, "--virtual-time-budget=2000", "--dump-dom").stdout


def screenshot(browser: str, profile: Path, url: str, target: Path, size: tuple[int, int]) -> Path:
    run(browser, profile, url, f"--window-size={size[0]},{size[1]}", f"--screenshot={target}")
    return target


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunk = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(
            f"{path}: unsupported PNG (depth {depth}, color type {color}, interlace {interlace})"
        )
    channels = 3 if color == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[i] = (line[i] + predictor) & 0xFF
        previous = line
        rgb = bytes(line) if channels == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3)
        rows.append(rgb)
    return width, height, rows


def count_colour(rows: list[bytes], colour: str, tolerance: int = 6) -> int:
    """Pixels within ``tolerance`` of ``colour`` (#RRGGBB) on every channel."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    count = 0
    for row in rows:
        for i in range(0, len(row), 3):
            if (
                abs(row[i] - r) <= tolerance
                and abs(row[i + 1] - g) <= tolerance
                and abs(row[i + 2] - b) <= tolerance
            ):
                count += 1
    return count
