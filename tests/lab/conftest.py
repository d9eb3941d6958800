"""Lab tests share one helper module, `lab_kit` (tests/ is not a package, so it is put on the path here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "kit"))
