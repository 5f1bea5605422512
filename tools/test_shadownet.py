"""Seed-compatible test-shadownet: ``--dataset_dir D --weights_path CKPT``; one line per image."""

import argparse

from _seedcompat import run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset_dir", required=True, help="record directory")
    p.add_argument("--weights_path", required=True, help="checkpoint or model directory")
    args = p.parse_args()
    from toolkit.evaluate import test_shadownet

    def show(name, gt, pred):
        print(f"Predict {name} image with gt label: {gt} **** predict label: {pred}")

    scores = test_shadownet(args.dataset_dir, args.weights_path, on_line=show)
    print(f"Mean test accuracy is {scores.line_accuracy:.4f} (per-char {scores.char_accuracy:.4f}, "
          f"CER {scores.cer:.4f}, {scores.count} lines)")


if __name__ == "__main__":
    run(main)
