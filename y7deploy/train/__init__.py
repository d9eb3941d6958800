"""Training YOLOv7: the OTA loss, the trainer, evaluation (mAP) and plots.

Everything here needs the `train` extra (torch, numpy, matplotlib); nothing in the
fleet half imports it.
"""
