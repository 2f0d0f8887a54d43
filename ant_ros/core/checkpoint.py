"""Checkpoints: the whole learner state in one ``.npz`` file, without pickle, written atomically.

A checkpoint holds every state array of the learner, the configuration as JSON and a format
version. Loading checks everything against the running learner before anything is copied: a file
of another version, another network shape, a truncated file or garbage raises CheckpointError and
leaves the learner untouched.
"""

from __future__ import annotations

import glob
import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from . import kernels as K
from .config import AgentConfig, ConfigError
from .learner import OnlineLearner

FORMAT_VERSION = 10  # 3: phase-split e-prop state, operation counts by kind; 4: e-prop settled
# at presynaptic events, psi inside per-neuron sums; 5: the generator's state in six uint64 words
# (a fixed shape: 4 stored it as JSON bytes whose length varied with the state); 6: the change
# detector's state, flops by part with change detection; 7: no consolidation state per synapse
# (consolidation is on the readouts only, its importance a decaying path integral); 8: the
# random feedback draw (readout feedback replaces B; switching back restores the saved draw);
# 9: a live feedback change still due at the next learning step; 10: the delta network's state
# (network.feedforward: its flag, groups and buckets, its operation counts, feed-forward passes
# in the twin's log)
_META_VERSION = "meta.format_version"
_META_CONFIG = "meta.config_json"


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or was refused."""


STALE_TEMPORARY_S = 60.0


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files a killed save of ``path`` left beside it (``.NAME.*.tmp``,
    regular files in its own directory only, untouched for ``STALE_TEMPORARY_S``: a save under
    way elsewhere is left alone); returns what was removed."""
    path = Path(path)
    removed = []
    now = time.time()
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if (tmp.is_file() and not tmp.is_symlink()
                    and now - tmp.stat().st_mtime > STALE_TEMPORARY_S):
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass  # gone already, or not ours to remove
    return removed


def save_checkpoint(learner: OnlineLearner, path: str | os.PathLike) -> Path:
    """Write the learner's state to ``path`` atomically (temp file, fsync, rename). Pending
    e-prop and readout changes are applied first (their effect on the drives then starts now,
    not at the synapses' next events)."""
    _refuse_twin(learner)
    path = Path(path)
    arrays = dict(learner.state())
    arrays[_META_VERSION] = np.array([FORMAT_VERSION], np.int64)
    arrays[_META_CONFIG] = np.frombuffer(learner.config.to_json().encode(), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_checkpoint(path: str | os.PathLike) -> tuple[AgentConfig, dict[str, np.ndarray]]:
    """Read and check a checkpoint file's format; returns its configuration and arrays."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint {path} does not exist") from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} is not a readable .npz file: {exc}") from exc
    version = arrays.get(_META_VERSION)
    if version is None or version.shape != (1,) or not np.issubdtype(version.dtype, np.integer):
        raise CheckpointError(f"checkpoint {path} has no format version")
    if int(version[0]) != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {int(version[0])}, "
                              f"this ant_ros reads version {FORMAT_VERSION}")
    try:
        config = AgentConfig.from_json(bytes(arrays[_META_CONFIG]).decode())
    except (KeyError, UnicodeDecodeError, ConfigError) as exc:
        raise CheckpointError(f"checkpoint {path} has no valid configuration: {exc}") from exc
    return config, arrays


def load_checkpoint(learner: OnlineLearner, path: str | os.PathLike) -> AgentConfig:
    """Load a checkpoint into a running learner, or raise CheckpointError and change nothing.

    Returns the checkpoint's configuration (its live parameters are applied too).
    """
    _refuse_twin(learner)
    config, arrays = read_checkpoint(path)
    if config.structure() != learner.config.structure():
        raise CheckpointError(f"checkpoint {path} is for another network structure (this "
                              f"learner -> checkpoint: "
                              f"{learner.config.structure_differences(config)})")
    expected = learner.state(settle=False)
    missing = sorted(set(expected) - set(arrays))
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing[:5])}")
    for name, current in expected.items():
        stored = arrays[name]
        if stored.shape != current.shape or stored.dtype != current.dtype:
            raise CheckpointError(f"checkpoint {path}: {name} has shape {stored.shape} "
                                  f"{stored.dtype}, expected {current.shape} {current.dtype}")
        if stored.dtype.kind == "f" and not np.all(np.isfinite(_checked_values(name, stored))):
            raise CheckpointError(f"checkpoint {path}: {name} holds NaN or inf")
    _check_indices(arrays, learner, path)
    try:
        learner.apply_config(config)
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    learner.load_state({name: arrays[name] for name in expected})
    return config


def load_learner(path: str | os.PathLike) -> OnlineLearner:
    """Build a learner from a checkpoint file."""
    config, _ = read_checkpoint(path)
    learner = OnlineLearner(config)
    load_checkpoint(learner, path)
    return learner


def _refuse_twin(learner: OnlineLearner) -> None:
    if learner.is_twin:
        raise CheckpointError("the synchronous twin is a benchmark baseline: it has no "
                              "checkpoints")


def _checked_values(name: str, values: np.ndarray) -> np.ndarray:
    """The values of an array that must be finite."""
    if name in OnlineLearner.NAN_ALLOWED:
        return values[~np.isnan(values)]
    if name == "net.nf":  # the cell-space bounds may be infinite; refresh() recomputes them
        keep = [c for c in range(values.shape[1]) if c not in (K.LOW, K.HIGH)]
        return values[:, keep]
    return values


def _check_indices(arrays: dict[str, np.ndarray], learner: OnlineLearner, path) -> None:
    """Synapse indices must point inside the network (a corrupt file must not crash a kernel)."""
    n_units = learner.net.n_hidden + learner.net.n_channels
    syn = arrays["net.syn"]
    ptr = arrays["net.ptr"]
    n_syn = syn.shape[1]
    if (syn.min(initial=0) < 0 or syn[0].max(initial=0) >= n_units
            or syn[1].max(initial=0) >= learner.net.n_hidden or syn[2:].max(initial=0) >= n_syn
            or ptr.min(initial=0) < 0 or ptr.max(initial=0) > n_syn
            or np.any(np.diff(ptr, axis=1) < 0)):
        raise CheckpointError(f"checkpoint {path} has corrupt connectivity indices")
