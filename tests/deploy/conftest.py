"""Deploy tests share canned inputs, `deploy_canned` (tests/ is not a package, so its folder is put on the path here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
