"""``python -m deepview.cli``: the ``deepview`` command."""

from deepview.cli import main

if __name__ == "__main__":
    main()
