"""ROS-free core: network, kernels, learning rules, accounting, checkpoints (numpy + numba).

numba caches a compiled kernel keyed by its own source file only, though the kernels of
``kernels.py`` compile in functions of ``event_readout.py``: an edit there would leave a stale
``advance`` in the cache. So the cache lives in a folder named after the kernel sources' hash
(unless ``NUMBA_CACHE_DIR`` is set), outside the package, which may be read-only on a robot.
"""

import hashlib
import os
from pathlib import Path

# every module of the core that compiles kernels (a test checks that none is missing)
KERNEL_SOURCES = ("kernels.py", "event_readout.py", "readout.py", "twin.py", "jit.py",
                  "learner_kernels.py", "normalization.py")

if "NUMBA_CACHE_DIR" not in os.environ:
    _here = Path(__file__).parent
    _digest = hashlib.sha1()
    for _name in KERNEL_SOURCES:
        _digest.update((_here / _name).read_bytes())
    _base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    os.environ["NUMBA_CACHE_DIR"] = str(_base / "ant_ros" / "numba" / _digest.hexdigest()[:16])
