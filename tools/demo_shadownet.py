"""Seed-compatible demo: ``--image_path IMG --weights_path CKPT``; prints path, text, confidence."""

import argparse
import sys

from _seedcompat import run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--image_path", required=True, nargs="+", help="line image(s) or directory")
    p.add_argument("--weights_path", required=True, help="checkpoint or model directory")
    args = p.parse_args()
    from toolkit.predict import demo

    results = demo(args.image_path, args.weights_path)
    for r in results:  # an unreadable image is logged (stderr) by demo
        if not r.error:
            print(f"{r.path}\t{r.text}\t{r.confidence:.4f}")
    if any(r.error for r in results):
        sys.exit(3)


if __name__ == "__main__":
    run(main)
