"""How far from the CPU's limit embedding runs: FLOPs per passage against peak FLOP/s.

Both are estimates, with their assumptions in the names and the README ("Speed"):

- **Work.** A transformer spends about 2 FLOPs per weight per token in its matrix
  products (a multiply and an add). The weights counted are the model's dense
  layers, read from the ``model.safetensors`` header; the embedding tables are
  looked up, not multiplied, so they are left out, and so is attention's
  token-by-token term (small at a passage's 100–250 tokens).
- **Peak.** cores × clock × float32 lanes of the widest vector unit (16 with
  AVX-512, 8 with AVX2, 4 with SSE) × 2 (FMA: multiply and add in one
  instruction) × ``FMA_UNITS`` per core. The clock is /proc/cpuinfo's ``cpu MHz``
  (the nominal clock in a VM; turbo would raise the peak). The int8 backends run
  integer dot products, whose peak is higher still: their share is against the
  float32 peak, so it says how much faster than float32 at full speed they run.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

# Server x86 cores (Xeon since Skylake-SP, EPYC since Zen 2) issue two vector FMAs a cycle.
FMA_UNITS = 2


@dataclass(frozen=True)
class CpuPeak:
    cores: int
    ghz: float
    lanes: int  # float32 values per vector register
    fma: bool

    @property
    def gflops(self) -> float:
        return self.cores * self.ghz * self.lanes * (2 if self.fma else 1) * FMA_UNITS


def cpu_peak(cores: int, cpuinfo: str | None = None) -> CpuPeak | None:
    """The float32 peak of ``cores`` cores, from /proc/cpuinfo; None where it says too little."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    try:
        mhz = float(fields["cpu MHz"])
    except (KeyError, ValueError):
        return None
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags or "avx" in flags else 4
    return CpuPeak(cores, round(mhz / 1000, 2), lanes, "fma" in flags)


def dense_parameters(folder: Path) -> int | None:
    """Weights of the model's matrix products, from its safetensors header (no tensor read)."""
    path = folder / "model.safetensors"
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
    except (OSError, ValueError, struct.error):
        return None
    return sum(
        math.prod(entry["shape"])
        for name, entry in header.items()
        if name != "__metadata__" and "embeddings" not in name and name.endswith("weight")
    )


def flops_per_passage(parameters: int, tokens: float) -> float:
    """About 2 FLOPs per weight per token."""
    return 2.0 * parameters * tokens


def share_of_peak(passages_per_s: float, flops: float, peak: CpuPeak) -> float:
    """The share of the float32 peak that ``passages_per_s`` passages of ``flops`` reach."""
    return passages_per_s * flops / (peak.gflops * 1e9)
