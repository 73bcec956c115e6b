"""``python -m celeriac``: the command line."""

from celeriac.cli.main import main

if __name__ == "__main__":
    main()
