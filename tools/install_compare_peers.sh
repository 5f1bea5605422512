#!/usr/bin/env bash
# Install the optional peers of `crnn-toolkit compare` and what tools/build_yuanqu_eval_set.py needs:
#   Tesseract 5 with chi_sim, PP-OCRv4 through rapidocr-onnxruntime 1.4.4 (pip extra "compare"),
#   the Debian CJK fonts the held-out set is rendered with, and pango-view (a second rasterizer).
# Debian/Ubuntu; run as root (or with sudo) from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
    tesseract-ocr tesseract-ocr-chi-sim pango1.0-tools \
    fonts-arphic-ukai fonts-arphic-uming fonts-wqy-zenhei fonts-wqy-microhei fonts-lxgw-wenkai \
    fonts-droid-fallback
pip install -e ".[compare]"
