"""``python -m blurkit`` (also what ``torchrun -m blurkit`` runs)."""

from .cli import main

if __name__ == "__main__":
    main()
