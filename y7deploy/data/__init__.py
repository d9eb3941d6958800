"""The data room: CVAT import, label checks, the demo set, loading and augmentation.

Modules import numpy/cv2/torch at their top, so import the one you need
(`y7deploy.data.dataset`, `y7deploy.data.cvat`, ...); this package itself stays light.
"""
