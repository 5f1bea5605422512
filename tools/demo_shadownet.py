"""Seed-compatible demo: ``--image_path IMG --weights_path CKPT``; prints path, text, confidence."""

import argparse

from _seedcompat import run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--image_path", required=True, nargs="+", help="line image(s) or directory")
    p.add_argument("--weights_path", required=True, help="checkpoint or model directory")
    args = p.parse_args()
    from toolkit.predict import demo

    for path, text, conf in demo(args.image_path, args.weights_path):
        print(f"{path}\t{text}\t{conf:.4f}")


if __name__ == "__main__":
    run(main)
