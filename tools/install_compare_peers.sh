#!/usr/bin/env bash
# Install the optional peers of `crnn-toolkit compare` and what the held-out set builders need:
#   Tesseract 5 with chi_sim, PP-OCRv4 through rapidocr-onnxruntime 1.4.4 (pip extra "compare");
#   for tools/build_eval_set.py (the general set): pango-view, fontconfig, Chromium and Playwright
#   (which drives it), npm (the Yuan qu text), apt-get download reaching a Debian mirror (the
#   manpages-zh text); for tools/build_yuanqu_eval_set.py (the regression set): pango-view and the
#   six Debian CJK fonts it is rendered with.
# Debian/Ubuntu; run as root (or with sudo) from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
    tesseract-ocr tesseract-ocr-chi-sim pango1.0-tools fontconfig chromium npm \
    fonts-arphic-ukai fonts-arphic-uming fonts-wqy-zenhei fonts-wqy-microhei fonts-lxgw-wenkai \
    fonts-droid-fallback
pip install -e ".[compare]" "playwright>=1.44"
