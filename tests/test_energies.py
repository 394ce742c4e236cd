"""Each energy a result reports is what its name says (README's table)."""

import pytest
import RNA

from rnastruct.folding import _soft_matrix
from rnastruct.predictor.core import load_predictor
from rnastruct.predictor.outputs import json_record

TRNA = "GCCCGGAUAGCUCAGUCGGUAGAGCAGGGGAUUGAAAAUCCCCGUGUCCUUGGUUCGAUUCCGAGUCCGGGCACCA"


def test_turner_learned_and_ensemble_energies_of_the_real_model():
    p = load_predictor(probs=True)
    ((_, logits),) = list(p.s1.pair_logits([TRNA]))
    ((_, r),) = list(p.predict(["tRNA"], [TRNA]))
    plain = RNA.fold_compound(TRNA)
    assert r.energy == pytest.approx(plain.eval_structure(r.structure), abs=0.006)  # Turner 2004 alone
    # under the model (Turner + the learned pseudo-energies) the structure's energy is the sum
    model = RNA.fold_compound(TRNA)
    model.sc_add_bp(_soft_matrix(p.decoder.settings.energy.pseudo_energies(logits, TRNA), len(TRNA)))
    assert r.energy + r.learned_energy == pytest.approx(model.eval_structure(r.structure), abs=0.01 * len(r.pairs))
    assert r.learned_energy < 0  # the model favours its own structure
    # the Turner ensemble is RNAfold -p's; the model's is far more stable
    plain.exp_params_rescale(plain.mfe()[1])
    assert r.turner_ensemble_energy == pytest.approx(plain.pf()[1], abs=1e-3)
    assert r.ensemble_energy < r.turner_ensemble_energy - 5
    rec = json_record(r)
    assert rec["turner_energy"] == r.energy and rec["learned_energy"] == pytest.approx(r.learned_energy)
    assert rec["ensemble_energy_turner"] == pytest.approx(r.turner_ensemble_energy, abs=1e-4)
    assert rec["ensemble_energy_model"] == pytest.approx(r.ensemble_energy, abs=1e-4)
    assert rec["s2_score"] is None and "energy" not in rec and "ensemble_energy" not in rec
