"""Operation counts of the asynchronous learner, their dense-equivalents, and an energy estimate.

Energy per operation (documented assumptions, not measurements of this machine):

=========================  =========  ==================================================
operation                  pJ / op    source
=========================  =========  ==================================================
fp32 add                   0.9        Horowitz, ISSCC 2014 (45 nm CMOS)
fp32 multiply              3.7        Horowitz, ISSCC 2014 (45 nm CMOS)
synaptic op (neuromorphic) 23.6       Davies et al., IEEE Micro 2018 (Loihi)
=========================  =========  ==================================================

On a CPU a synaptic op or a dense multiply-accumulate costs one fp32 MAC (4.6 pJ); a neuron
update (closed-form decay, threshold test) about 10 fp32 ops (mult + add each, 46 pJ); a learning
update (one synapse settled) about 8 fp32 MACs (36.8 pJ). These are arithmetic-only lower bounds:
memory traffic is not counted. The neuromorphic column prices each synaptic op at 23.6 pJ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

FP32_ADD_PJ = 0.9
FP32_MULT_PJ = 3.7
MAC_PJ = FP32_ADD_PJ + FP32_MULT_PJ
NEUROMORPHIC_SYNOP_PJ = 23.6
NEURON_UPDATE_PJ = 10 * MAC_PJ
LEARN_UPDATE_PJ = 8 * MAC_PJ


@dataclass
class OpCounts:
    """What the learner did, and what a dense synchronous learner would have done."""

    synops: int = 0
    neuron_updates: int = 0
    learn_updates: int = 0
    readout_learn_ops: int = 0
    hidden_events: int = 0
    input_events: int = 0
    ticks: int = 0
    dense_synops: int = 0
    dense_neuron_updates: int = 0
    dense_learn_updates: int = 0

    @property
    def op_ratio(self) -> float:
        """Dense synaptic ops per asynchronous synaptic op (higher is cheaper)."""
        return self.dense_synops / max(self.synops, 1)

    @property
    def total_ratio(self) -> float:
        """Dense / asynchronous over all counted work (synaptic, neuron and learning ops)."""
        dense = (self.dense_synops + self.dense_neuron_updates + self.dense_learn_updates
                 + self.readout_learn_ops)
        sparse = self.synops + self.neuron_updates + self.learn_updates + self.readout_learn_ops
        return dense / max(sparse, 1)

    def energy_pj(self) -> dict[str, float]:
        """Arithmetic energy estimates in picojoules (see the module table)."""
        cpu = (self.synops * MAC_PJ + self.neuron_updates * NEURON_UPDATE_PJ
               + self.learn_updates * LEARN_UPDATE_PJ + self.readout_learn_ops * MAC_PJ)
        dense = (self.dense_synops * MAC_PJ + self.dense_neuron_updates * NEURON_UPDATE_PJ
                 + self.dense_learn_updates * LEARN_UPDATE_PJ + self.readout_learn_ops * MAC_PJ)
        return {"async_cpu_pj": cpu, "dense_cpu_pj": dense,
                "async_neuromorphic_pj": self.synops * NEUROMORPHIC_SYNOP_PJ}

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(op_ratio=self.op_ratio, total_ratio=self.total_ratio, **self.energy_pj())
        return out
