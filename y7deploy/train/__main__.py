"""`python -m y7deploy.train ARGS` = `y7deploy train ARGS`, the form torchrun launches:

    torchrun --nproc_per_node 2 -m y7deploy.train --data data.yaml --cfg yolov7 --device 0,1
"""

import sys

from y7deploy.cli import cli

if __name__ == "__main__":
    cli(["train", *sys.argv[1:]], prog_name="y7deploy train")
