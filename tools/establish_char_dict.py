"""Seed-compatible build-char-dict: ``--char_dict_file chinese.txt --save_dir char_dict/``."""

import argparse

from _seedcompat import run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--char_dict_file", required=True, help="chinese.txt, one char per line")
    p.add_argument("--save_dir", required=True, help="where the three JSON maps go")
    args = p.parse_args()
    from toolkit.charset import build_char_dict

    cs = build_char_dict(args.char_dict_file, args.save_dir)
    print(f"num_classes {cs.num_classes} (chars + space + blank)")


if __name__ == "__main__":
    run(main)
