"""``python -m mrlkit``: the command line, also as ``torchrun --nproc_per_node N -m mrlkit finetune ...``."""

from mrlkit.cli import main

if __name__ == "__main__":
    main()
