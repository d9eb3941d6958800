"""Training YOLOv7: the OTA loss, the trainer, evaluation (mAP) and plots.

Everything here needs the `train` extra (torch, numpy, matplotlib); nothing in the
fleet half imports it.
"""

import os

# OpenMP's threads spin while they wait for each other. On a CPU shared with the loader's
# workers or other jobs, a spinning thread holds the core its partner needs, and a training
# step gets many times slower (bench/train.py; README). Waiting passively costs little on a
# quiet machine. It must be in the environment before torch loads its OpenMP runtime, so it
# is set here, where every training and evaluation entry point passes first; a value the
# user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
