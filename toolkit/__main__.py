"""``python -m toolkit`` runs the ``crnn-toolkit`` command line."""

from toolkit.cli import main

main(prog_name="crnn-toolkit")
