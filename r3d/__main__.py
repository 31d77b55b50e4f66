"""``python -m r3d``: the ``r3d`` command line (see ``r3d.cli``)."""

from r3d.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
