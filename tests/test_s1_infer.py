"""S1 inference, pruning and box-level evaluation: tiling is exact, the fast argmax path equals
the full softmax, batching changes nothing, every rule of select / prune / recall checked on
hand-made boxes, true boxes of ViennaRNA folds survive pruning, and the CLI end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnastruct.boxes import Box, structure_to_boxes
from rnastruct.s1.infer import (
    BOX_COLUMNS,
    ProposalConfig,
    S1Predictor,
    activate,
    merge_methods,
    select,
)
from rnastruct.s1.data import tokenize
from rnastruct.s1.model import S1ModelConfig, build_model
from rnastruct.s1.prune import PruneConfig, box_score, canonical_map, prune, prune_reasons
from rnastruct.s1.recall import join_scores, score_sequence, summarize
from rnastruct.s1.targets import (PROPOSAL_COLUMNS, decode, encode, perfect_predictions, pixel_votes,
                                  topk_classes)
from rnastruct.errors import InputError
from rnastruct.structure import check_sequences, parse_dot_bracket

from .conftest import run_cli

TINY = S1ModelConfig(seq_channels=8, seq_layers=2, pair_channels=8, dilations=[1, 2, 4], head_channels=8)
ORIGINAL_TINY = S1ModelConfig(arch="original", filters=[4, 4], filter_width=[5, 3], head_channels=6)
HELIX_TINY = S1ModelConfig(seq_channels=8, seq_layers=1, pair_channels=8, dilations=[1, 2, 4], head_channels=8,
                           helix_features=6)
BUNDLED = Path(__file__).resolve().parents[1] / "rnastruct" / "models" / "mfe" / "s1.pt"


def random_seqs(n, lo, hi, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGU"), int(rng.integers(lo, hi + 1)))) for _ in range(n)]


def same_proposals(a, b, atol=1e-5):
    assert len(a["type"]) == len(b["type"])
    for c in PROPOSAL_COLUMNS:
        if a[c].dtype.kind in "iuU":
            assert np.array_equal(a[c], b[c]), c
        else:
            np.testing.assert_allclose(a[c], b[c], atol=atol, err_msg=c)


def seeded(cfg):
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    # random BatchNorm statistics, so the original's eval mode is not the identity
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model


LSTM_TINY = S1ModelConfig(seq_channels=8, seq_layers=1, seq_lstm=6, pair_product=True, pair_channels=8,
                          dilations=[1, 2, 4], head_channels=8)


@pytest.mark.parametrize("cfg", [TINY, ORIGINAL_TINY, LSTM_TINY, HELIX_TINY], ids=["dilated", "original", "lstm", "helix"])
def test_tiled_equals_whole_map(cfg):
    """A sequence several tiles long gives the whole-map proposals, tile by tile."""
    model = seeded(cfg)
    (seq,) = random_seqs(1, 97, 97)
    (_, whole), = S1Predictor(model, tile=512).propose([seq])
    for tile in (16, 40):
        (_, tiled), = S1Predictor(model, tile=tile).propose([seq])
        same_proposals(whole, tiled)
    assert len(whole["type"]) > 1000


def test_tiled_votes_equal_whole_map_votes():
    """The soft votes too: a box's voters lie within MAX_OFFSET of its corner whatever class
    they vote with, so tiles widened by that margin give the whole-map votes."""
    model = seeded(HELIX_TINY)
    (seq,) = random_seqs(1, 97, 97, seed=3)
    (_, whole), = S1Predictor(model, tile=512).propose([seq], votes=(2, 0.0))
    assert (whole["method"] == "vote").sum() > 1000
    for tile in (16, 40):
        (_, tiled), = S1Predictor(model, tile=tile).propose([seq], votes=(2, 0.0))
        same_proposals(whole, tiled)


@pytest.mark.parametrize("method", ["union", "vote"])
def test_selection_tile_by_tile_equals_selection_of_the_whole_table(method):
    """What s1-infer runs (selection per tile, bounded memory) keeps exactly the boxes, and
    their columns, of selecting from the whole map's table."""
    model = seeded(HELIX_TINY)
    seqs = random_seqs(3, 60, 97, seed=4)
    cfg = ProposalConfig(threshold=0.05, p_on=0.2, method=method, vote_min_p_on=0.0, vote_threshold=0.0005)
    whole = dict(S1Predictor(model, tile=512).propose(seqs, votes=cfg.votes))
    for tile in (16, 512):
        got = dict(S1Predictor(model, tile=tile).select(seqs, cfg))
        assert sorted(got) == [0, 1, 2]
        for k in got:
            want = select(whole[k], cfg)
            assert len(want["type"]) > 20
            for c in BOX_COLUMNS:
                if want[c].dtype.kind in "iuU":
                    assert np.array_equal(got[k][c], want[c]), c
                else:
                    np.testing.assert_allclose(got[k][c], want[c], atol=1e-5, err_msg=c)


def test_region_is_the_whole_map_crop():
    model = seeded(TINY)
    tokens = torch.randint(0, 5, (2, 50))
    lengths = torch.tensor([50, 41])
    tokens[1, 41:] = 5
    with torch.no_grad():
        whole = model(tokens, lengths)
        part = model.region(model.features(tokens, lengths), 7, 30, 12, 49)
    for name, v in part.items():
        torch.testing.assert_close(v, whole[name][:, 7:30, 12:49], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("band", [(1, None), (1, 6), (-5, 12), (4, None), (30, 40)])
def test_banded_trunk_is_the_whole_trunk_in_its_band(monkeypatch, band):
    """Inference runs each 2D block only on the band it needs, strip by strip: in the band, the
    whole map's features, for a padded batch and crops on, above and below the diagonal; strips
    of 3 rows, so that each block spans many and a wrong strip edge shows."""
    import rnastruct.s1.model as s1model

    monkeypatch.setattr(s1model, "STRIP", 3)
    model = seeded(HELIX_TINY)
    with torch.no_grad():
        for block in model.pair_blocks:  # strong residual branches: an error anywhere shows
            block.conv.weight.mul_(4)
    tokens = torch.randint(0, 5, (2, 60))
    lengths = torch.tensor([60, 47])
    tokens[1, 47:] = 5
    lo, hi = band
    with torch.no_grad():
        feats = model.features(tokens, lengths)
        for r0, r1, c0, c1 in ((0, 60, 0, 60), (5, 30, 20, 55), (25, 50, 10, 45), (0, 20, 40, 60)):
            whole = model.trunk(feats, r0, r1, c0, c1)  # [B, C2, R, C]
            banded = model.trunk(feats, r0, r1, c0, c1, band=band)
            off = torch.arange(c0, c1)[None, :] - torch.arange(r0, r1)[:, None]  # [R, C]
            inside = (off >= lo) & (off <= (hi if hi is not None else 10**6))
            torch.testing.assert_close(banded[:, :, inside], whole[:, :, inside], atol=1e-5, rtol=1e-5)
        # the band was honoured, not the whole map computed: far outside it nothing is the map's
        whole = model.trunk(feats, 0, 60, 0, 60)
        assert not torch.allclose(model.trunk(feats, 0, 60, 0, 60, band=band), whole, atol=1e-3)


def test_pair_logits_over_the_band_are_the_heads_output(monkeypatch):
    """What predict reads, through the banded trunk (strips of 4 rows), whole or tiled, with
    and without a span limit: the pair head's whole-map logits for i < j, zero elsewhere."""
    import rnastruct.s1.model as s1model

    monkeypatch.setattr(s1model, "STRIP", 4)
    model = seeded(S1ModelConfig(seq_channels=8, seq_layers=2, pair_channels=8, dilations=[1, 2, 4],
                                 head_channels=8, pair_prob_head=True))
    seqs = random_seqs(3, 40, 75, seed=2)
    W = 9
    for tile in (512, 24):
        maps = dict(S1Predictor(model, tile=tile).pair_logits(seqs))
        bands = dict(S1Predictor(model, tile=tile).pair_logits(seqs, max_bp_span=W))
        for k, s in enumerate(seqs):
            tokens = torch.from_numpy(tokenize(s))[None]  # [1, L]
            with torch.no_grad():
                want = model(tokens, torch.tensor([len(s)]))["pair_prob"][0].numpy()  # [L, L]
            np.testing.assert_allclose(maps[k], np.triu(want, 1), atol=1e-5)
            i, d = np.nonzero(np.add.outer(np.arange(len(s)), np.arange(W + 1)) < len(s))
            keep = d > 0
            np.testing.assert_allclose(bands[k][i[keep], d[keep]], want[i[keep], i[keep] + d[keep]], atol=1e-5)
            assert not bands[k][:, 0].any()


@pytest.mark.parametrize("cfg", [TINY, ORIGINAL_TINY, HELIX_TINY], ids=["dilated", "original", "helix"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_head_at_pixels_is_bitwise_the_whole_map_there(cfg, dtype):
    """Inference runs the 1 x 1 head on the upper triangle's pixels only: the whole map's
    outputs at those pixels, padding included; bitwise for the channels-last dilated network
    (oneDNN's 1 x 1 kernel does not depend on the map's shape there), to rounding for the
    original (NCHW, where the kernel chosen can)."""
    from rnastruct.s1.infer import _upper_triangle

    model = seeded(cfg).to(dtype)
    tokens = torch.randint(0, 5, (2, 48))
    lengths = torch.tensor([48, 37])
    tokens[1, 37:] = 5
    rows, cols = _upper_triangle(48, "cpu")
    with torch.no_grad():
        feats = model.features(tokens, lengths)
        whole = model.region(feats, 0, 48, 0, 48)
        at = model.region(feats, 0, 48, 0, 48, pixels=(rows, cols))
    for name, v in at.items():
        assert v.shape[:2] == (2, 48 * 47 // 2)
        if cfg.arch == "dilated":
            assert torch.equal(v, whole[name][:, rows, cols]), name
        else:
            torch.testing.assert_close(v, whole[name][:, rows, cols], atol=1e-5, rtol=1e-5)


def test_upper_triangle_puts_a_shorter_sequences_pixels_first():
    from rnastruct.s1.infer import _upper_triangle

    rows, cols = _upper_triangle(30, "cpu")
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(i, j) for i in range(30) for j in range(i + 1, 30)]
    for n in (0, 1, 2, 17, 30):
        head = n * (n - 1) // 2
        assert set(zip(rows[:head].tolist(), cols[:head].tolist())) == {(i, j) for j in range(n) for i in range(j)}


def test_argmax_path_equals_full_softmax():
    model = seeded(TINY)
    (seq,) = random_seqs(1, 60, 60, seed=2)
    pred = S1Predictor(model)
    tokens, lengths = pred._batch([seq])
    with torch.no_grad():
        logits = model(tokens, lengths)
    full = {k: v[0].numpy() for k, v in activate(logits).items()}
    fast = {k: tuple(a[0].numpy() for a in v) if isinstance(v, tuple) else v[0].numpy()
            for k, v in activate(logits, argmax=True).items()}
    a, b = decode(full), decode(fast)
    assert len(a["type"]) == len(b["type"]) > 100
    for c in PROPOSAL_COLUMNS:
        if a[c].dtype.kind in "iuU":
            assert np.array_equal(a[c], b[c]), c
        else:
            assert np.allclose(a[c], b[c], atol=1e-5), c


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_inference_convolutions_equal_the_plain_ones(dtype):
    """Inference runs each residual block as one oneDNN convolution with an in-place sum; with
    gradients on (training) the plain convolution-then-add runs. Same outputs, padding included."""
    from rnastruct.s1 import model as s1_model

    model = seeded(TINY).to(dtype)
    tokens = torch.randint(0, 5, (2, 40))
    lengths = torch.tensor([40, 29])
    tokens[1, 29:] = 5
    calls = []
    fused = s1_model._CONV_ADD_
    assert fused is not None, "the pinned torch lost oneDNN's fused convolution: inference is slower"
    with torch.no_grad():
        s1_model._CONV_ADD_ = lambda *a: calls.append(1) or fused(*a)
        try:
            fast = model(tokens, lengths)
        finally:
            s1_model._CONV_ADD_ = fused
    assert len(calls) == len(TINY.dilations)
    plain = model(tokens, lengths)  # gradients on: the plain path
    tol = 1e-5 if dtype == torch.float32 else 0.1
    for name, v in fast.items():
        torch.testing.assert_close(v.float(), plain[name].detach().float(), atol=tol, rtol=tol)


def test_light_decode_keeps_what_selection_reads():
    """decode(light=True) from (argmax, None) pairs: the boxes, their pixel counts and p_on
    maxima equal the full decode's; the statistics it skips are NaN, never a wrong number."""
    model = seeded(TINY)
    (seq,) = random_seqs(1, 70, 70, seed=4)
    tokens, lengths = S1Predictor(model)._batch([seq])
    with torch.no_grad():
        logits = model(tokens, lengths)
    numpy = lambda probs: {k: tuple(None if a is None else a[0].numpy() for a in v)  # noqa: E731
                           if isinstance(v, tuple) else v[0].numpy() for k, v in probs.items()}
    full = decode(numpy(activate(logits, argmax=True)))
    light_in = numpy(activate(logits, argmax=True, light=True))
    assert light_in["stem_location_x"][1] is None
    light = decode(light_in, light=True)
    assert len(light["type"]) == len(full["type"]) > 100
    for c in ("type", "method", "bb_x", "bb_y", "siz_x", "siz_y", "n_proposal", "n_proposal_norm", "p_on_max"):
        assert np.array_equal(light[c], full[c]), c
    for c in ("prob_median", "prob_max", "p_on_median"):
        assert np.isnan(light[c]).all() and not np.isnan(full[c]).any(), c
    # selection reads only the light columns: it keeps the same boxes
    cfg = ProposalConfig(threshold=0.05, p_on=0.3)
    for c in ("type", "bb_x", "bb_y", "siz_x", "siz_y"):
        assert np.array_equal(select(light, cfg)[c], select(full, cfg)[c]), c
    with pytest.raises(ValueError, match="light=True"):
        decode(light_in)


def test_bf16_predictor_is_close_to_fp32():
    """bf16 inference (weights cast on a copy of the model): most boxes and their pixel counts
    agree with fp32; the caller's model stays fp32."""
    model = seeded(TINY)
    seqs = random_seqs(3, 60, 90, seed=5)
    fp32 = dict(S1Predictor(model).propose(seqs))
    bf16 = dict(S1Predictor(model, bf16=True).propose(seqs))
    assert next(model.parameters()).dtype == torch.float32
    for k in range(len(seqs)):
        key = lambda p: set(zip(p["type"], p["method"], p["bb_x"], p["bb_y"], p["siz_x"], p["siz_y"]))  # noqa: E731
        a, b = key(fp32[k]), key(bf16[k])
        assert len(a & b) >= 0.9 * len(a | b)


def test_batched_equals_one_at_a_time_and_every_sequence_is_answered():
    model = seeded(TINY)
    seqs = random_seqs(9, 5, 70, seed=3) + ["A", "GC"]
    batched = dict(S1Predictor(model, batch_pixels=3 * 70 * 70).propose(seqs))
    assert sorted(batched) == list(range(len(seqs)))
    for k, s in enumerate(seqs):
        (_, alone), = S1Predictor(model).propose([s])
        same_proposals(batched[k], alone)
    assert len(batched[9]["type"]) == 0  # one base: no pixel


def test_long_sequence_runs_tiled():
    """2,000 nt through the tiled path: every proposal is a box near the map."""
    model = seeded(TINY)
    (seq,) = random_seqs(1, 2000, 2000, seed=5)
    (_, props), = S1Predictor(model, tile=256).propose([seq])
    assert len(props["type"]) > 10_000
    assert props["bb_x"].min() >= -11 and props["bb_y"].max() <= 2000 + 11
    assert (props["bb_x"] < props["bb_y"]).all()


def table(rows):
    """Hand-made decode rows -> columns."""
    cols = {c: [] for c in PROPOSAL_COLUMNS}
    for r in rows:
        full = {**dict(n_proposal=1, n_proposal_norm=0.0, prob_median=0.0, prob_max=0.0, prob_sum=0.0,
                       p_on_median=0.0, p_on_max=0.0), **r}
        for c in PROPOSAL_COLUMNS:
            cols[c].append(full[c])
    return {c: np.array(v) for c, v in cols.items()}


def test_select_merges_methods_and_applies_each_rule():
    rows = [
        # stem kept by n_proposal through its sl row only
        dict(type="stem", method="sm", bb_x=0, bb_y=20, siz_x=3, siz_y=3, n_proposal_norm=0.1, p_on_max=0.05),
        dict(type="stem", method="sl", bb_x=0, bb_y=20, siz_x=3, siz_y=3, n_proposal=4, n_proposal_norm=0.45,
             prob_median=0.3, p_on_max=0.07),
        # hairpin at 0.15 > 0.2 * 0.5: kept by n_proposal
        dict(type="hloop", method="sm", bb_x=2, bb_y=18, siz_x=17, siz_y=17, n_proposal_norm=0.15),
        # iloop at 0.15 < 0.2: only p_on keeps it
        dict(type="iloop", method="sm", bb_x=3, bb_y=17, siz_x=4, siz_y=2, n_proposal_norm=0.15, p_on_max=0.5),
        # nothing keeps it
        dict(type="stem", method="sm", bb_x=5, bb_y=9, siz_x=1, siz_y=1, n_proposal_norm=0.2, p_on_max=0.09),
    ]
    props = table(rows)
    merged = merge_methods(props)
    assert list(merged) == list(BOX_COLUMNS) and len(merged["type"]) == 4
    stem = {c: merged[c][list(merged["type"]).index("stem")] for c in merged}
    assert (stem["n_proposal_sm"], stem["n_proposal_sl"]) == (1, 4)
    assert stem["n_proposal_norm_sl"] == 0.45 and stem["prob_median_sl"] == 0.3 and stem["p_on_max"] == 0.07

    def kept(method):
        out = select(props, ProposalConfig(method=method))
        return sorted(zip(out["type"].tolist(), out["bb_x"].tolist()))

    assert kept("n_proposal") == [("hloop", 2), ("stem", 0)]
    assert kept("p_on") == [("iloop", 3)]
    assert kept("union") == [("hloop", 2), ("iloop", 3), ("stem", 0)]
    with pytest.raises(InputError, match="proposal method"):
        select(props, ProposalConfig(method="best"))


def vienna_folds(n, seed=0):
    import RNA

    out = []
    for s in random_seqs(n, 30, 120, seed=seed):
        out.append((s, parse_dot_bracket(RNA.fold(s)[0])))
    return out


def test_perfect_predictions_propose_and_survive_pruning_exactly():
    """Independent truth: for ViennaRNA folds, perfect pixels -> select (original thresholds)
    -> prune (original rules) keeps every true box and nothing else."""
    for seq, pairs in vienna_folds(60):
        true = {tuple(b)[:5] for b in structure_to_boxes(pairs, len(seq)) if not b.pseudoknot}
        boxes = prune(select(decode(perfect_predictions(*encode(pairs, len(seq)))), ProposalConfig()),
                      seq, PruneConfig())
        got = set(zip(*(boxes[c].tolist() for c in ("type", "bb_x", "bb_y", "siz_x", "siz_y"))))
        assert got == true


def test_votes_by_hand():
    """One stem pixel's top-2 classes vote for every combination, weighted by the product of
    probabilities; a catch-all location casts no vote, a catch-all size takes the scalar size;
    pixels below min_p_on do not vote."""
    def one(k, p):
        return np.array([k]), np.array([p])

    values = {}
    for t in ("stem", "iloop", "hloop"):
        values[f"{t}_on"] = np.array([0.5 if t == "stem" else 0.005])
        for name in ("location_x", "location_y", "sm_size", "sm_size_x", "sm_size_y"):
            values[f"{t}_{name}"] = one([0, 1], [0.6, 0.3])
        for name in ("sl_size", "sl_size_x", "sl_size_y"):
            values[f"{t}_{name}"] = np.array([12.4])
    values["stem_location_y"] = one([0, 11], [0.8, 0.1])  # second choice: "more than 10"
    values["stem_sm_size"] = one([2, 10], [0.7, 0.2])  # size 3, then ">= 11": the scalar 12.4
    parts = pixel_votes(values, np.array([2]), np.array([9]), min_p_on=0.01)
    assert [(p.type, p.method) for p in parts] == [("stem", "vote"), ("iloop", "vote"), ("hloop", "vote")]
    assert len(parts[1].bb_x) == len(parts[2].bb_x) == 0  # p_on 0.005 < 0.01
    stem = parts[0]
    got = {(int(x), int(y), int(a), int(b)): w for x, y, a, b, w in
           zip(stem.bb_x, stem.bb_y, stem.siz_x, stem.siz_y, stem.prob)}
    # 12.4 splits its vote: 0.6 for size 12, 0.4 for 13
    want = {(2, 9, 3, 3): 0.5 * 0.6 * 0.8 * 0.7, (2, 9, 12, 12): 0.5 * 0.6 * 0.8 * 0.2 * 0.6,
            (2, 9, 13, 13): 0.5 * 0.6 * 0.8 * 0.2 * 0.4,
            (1, 9, 3, 3): 0.5 * 0.3 * 0.8 * 0.7, (1, 9, 12, 12): 0.5 * 0.3 * 0.8 * 0.2 * 0.6,
            (1, 9, 13, 13): 0.5 * 0.3 * 0.8 * 0.2 * 0.4}
    assert got.keys() == want.keys()
    for box, w in want.items():
        assert got[box] == pytest.approx(w)
    assert (stem.p_on == 0.5).all()
    # an internal loop splits each catch-all side: 11.25 -> 11 (0.75) and 12 (0.25); 12.0 -> 12
    values["stem_on"], values["iloop_on"] = np.array([0.0]), np.array([0.8])
    for name in ("location_x", "location_y"):
        values[f"iloop_{name}"] = one([1], [0.5])
    values["iloop_sm_size_x"], values["iloop_sm_size_y"] = one([10], [0.9]), one([10], [0.5])
    values["iloop_sl_size_x"], values["iloop_sl_size_y"] = np.array([11.25]), np.array([12.0])
    iloop = pixel_votes(values, np.array([20]), np.array([40]), min_p_on=0.01)[1]
    got = {(int(x), int(y), int(a), int(b)): w for x, y, a, b, w in
           zip(iloop.bb_x, iloop.bb_y, iloop.siz_x, iloop.siz_y, iloop.prob)}
    w = 0.8 * 0.5 * 0.5 * 0.9 * 0.5
    assert got.keys() == {(19, 41, 11, 12), (19, 41, 12, 12)}
    assert got[(19, 41, 11, 12)] == pytest.approx(0.75 * w) and got[(19, 41, 12, 12)] == pytest.approx(0.25 * w)


def test_perfect_votes_propose_and_survive_pruning_exactly():
    """Independent truth, as for argmax decoding: perfect pixels vote (top 2) for the true boxes
    with weight 1 (including sizes over 10, from the scalar) and for nothing else with any
    weight, so select "vote" then prune keeps exactly the true boxes; a true box's vote_norm
    is the share of its pixels that propose it."""
    for seq, pairs in vienna_folds(40, seed=5):
        true = {tuple(b)[:5] for b in structure_to_boxes(pairs, len(seq)) if not b.pseudoknot}
        proposals = decode(topk_classes(perfect_predictions(*encode(pairs, len(seq))), 2), votes=0.5)
        merged = merge_methods(proposals)
        boxes = prune(select(proposals, ProposalConfig(method="vote", vote_threshold=0.0)), seq, PruneConfig())
        got = set(zip(*(boxes[c].tolist() for c in ("type", "bb_x", "bb_y", "siz_x", "siz_y"))))
        assert got == true
        # weight-1 votes: vote_norm = the share of the box's pixels voting = n_proposal_norm of
        # the argmax "sm" proposals wherever "sm" could propose it (sizes up to 10)
        small = (merged["vote_norm"] > 0) & (merged["siz_x"] <= 10) & (merged["siz_y"] <= 10)
        np.testing.assert_allclose(merged["vote_norm"][small], merged["n_proposal_norm_sm"][small])


def test_budget_keeps_the_best_per_nucleotide_after_the_other_rules():
    seq = "GGGGAAAACCCC" + "A" * 8  # 20 nt: a budget of 0.1 per nt is 2 boxes
    boxes = box_table([("stem", 0, 11, 4, 4), ("stem", 1, 10, 2, 2), ("hloop", 3, 8, 6, 6),
                       ("stem", 4, 15, 2, 2), ("iloop", 0, 25, 3, 3)])
    boxes["n_proposal_norm_sm"] = np.array([0.3, 0.9, 0.3, 0.95, 0.4])
    boxes["n_proposal_norm_sl"] = np.zeros(5)
    # the hairpin's 0.3 counts 0.6 at hloop_factor 0.5; the AA-AA stem is non-canonical and
    # dropped first, so it cannot take the budget; the iloop reaches past the end
    assert box_score(boxes, 0.5).tolist() == pytest.approx([0.3, 0.9, 0.6, 0.95, 0.4])
    reasons = prune_reasons(boxes, seq, PruneConfig(max_per_nt=0.1, hloop_factor=0.5))
    assert reasons.tolist() == ["over_budget", "", "", "non_canonical_stem", "geometry"]
    # votes, when computed, rank instead of n_proposal_norm
    boxes["vote_norm"] = np.array([0.5, 0.01, 0.02, 0.0, 0.0])
    reasons = prune_reasons(boxes, seq, PruneConfig(max_per_nt=0.1, hloop_factor=0.5))
    assert reasons.tolist() == ["", "over_budget", "", "non_canonical_stem", "geometry"]
    assert (prune_reasons(boxes, seq, PruneConfig(max_per_nt=10)) != "over_budget").all()


def box_table(boxes, **extra):
    cols = {c: [] for c in BOX_COLUMNS}
    for b in boxes:
        row = dict(zip(("type", "bb_x", "bb_y", "siz_x", "siz_y"), b))
        for c in BOX_COLUMNS:
            # votes are computed only for --method vote: NaN, as select leaves them otherwise
            cols[c].append(row.get(c, extra.get(c, np.nan if c.startswith("vote") else 1.0)))
    return {c: np.array(v) for c, v in cols.items()}


def test_prune_rules():
    seq = "GGGAAACCCAUGCAAAAGCAU"  # 21 nt
    boxes = [
        ("stem", 0, 8, 3, 3),  # GGG/CCC: kept
        ("stem", 9, 20, 4, 4),  # A-U U-A G-C C-G: kept
        ("stem", 0, 5, 2, 2),  # G-A: non-canonical
        ("hloop", 2, 6, 5, 5),  # hairpin with 3 unpaired bases: kept
        ("hloop", 2, 4, 3, 3),  # one unpaired base: kept at min_hloop_size 3
        ("hloop", 2, 7, 5, 5),  # off the diagonal
        ("stem", -1, 8, 2, 2),  # outside the sequence
        ("stem", 15, 25, 2, 2),  # outside the sequence
        ("iloop", 2, 8, 3, 2),  # bulge 3 x 2: kept (geometry only)
        ("iloop", 2, 8, 2, 2),  # no unpaired base
        ("stem", 6, 9, 3, 3),  # crosses the diagonal
        ("stem", 0, 8, 3, 2),  # not square
    ]
    reasons = prune_reasons(box_table(boxes), seq, PruneConfig())
    assert reasons.tolist() == ["", "", "non_canonical_stem", "", "", "geometry", "geometry", "geometry",
                                "", "geometry", "geometry", "geometry"]
    strict = prune_reasons(box_table(boxes), seq, PruneConfig(min_hloop_size=5))
    assert strict[4] == "small_hairpin" and strict[3] == ""
    loose = prune_reasons(box_table(boxes), seq, PruneConfig(discard_ns_stem=False))
    assert loose[2] == ""
    t = box_table(boxes[:2])
    t["n_proposal_sm"], t["n_proposal_sl"] = np.array([3, 1]), np.array([0, 1])
    t["prob_median_sm"], t["prob_median_sl"] = np.array([0.5, 0.01]), np.array([0.0, 0.02])
    assert prune_reasons(t, seq, PruneConfig(min_pixel_pred=2)).tolist() == ["", "few_pixels"]
    assert prune_reasons(t, seq, PruneConfig(min_prob=0.1)).tolist() == ["", "low_prob"]
    assert canonical_map("GCAU").astype(int).tolist() == [[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 1], [1, 0, 1, 0]]


def test_stem_runs_against_pair_by_pair():
    """prune.StemPairs (stems as runs of the flat map): which random in-range stems have a
    non-canonical pair, and the pairs a set of them covers, as checked pair by pair."""
    from rnastruct.s1.prune import StemPairs, geometry_ok

    rng = np.random.default_rng(12)
    for L in (5, 23, 64):
        seq = "".join(rng.choice(list("ACGU"), L))
        can = canonical_map(seq)
        bx, by, s = (rng.integers(lo, hi, 4000) for lo, hi in ((0, L), (0, L), (1, L // 2 + 2)))
        ok = geometry_ok("stem", bx, by, s, s, L)
        bx, by, s = bx[ok], by[ok], s[ok]
        assert len(bx) > 20
        pairs = [[(x + k, y - k) for k in range(n)] for x, y, n in zip(bx, by, s)]
        runs = StemPairs(seq)
        assert runs.non_canonical(bx, by, s).tolist() == [not all(can[p] for p in ps) for ps in pairs]
        want = np.zeros((L, L), dtype=bool)
        for ps in pairs[::3]:
            for p in ps:
                want[p] = True
        assert np.array_equal(runs.covered(bx[::3], by[::3], s[::3]), want)


@pytest.mark.parametrize("method", ["union", "n_proposal", "p_on"])
@pytest.mark.parametrize("tile", [512, 48])
def test_allowed_pair_map_equals_the_pairs_of_the_pruned_boxes(method, tile):
    """The fold decoder's shortcut (s1.allowed) from the bundled S1's pixel proposals, whole
    map and tiled: exactly the pairs of select -> prune -> candidate_pairs on the box tables.
    Thresholds such that both pixel-count and p_on selection decide some boxes."""
    from rnastruct.boxes import candidate_pairs
    from rnastruct.s1.allowed import allowed_pair_map
    from rnastruct.s1.infer import proposal_table

    seqs = random_seqs(3, 60, 230, seed=8)
    cfg, pcfg = ProposalConfig(threshold=0.05, p_on=0.1, method=method), PruneConfig()
    predictor = S1Predictor.from_checkpoint(BUNDLED, tile=tile, bf16=True)
    for k, tiles in predictor.pixel_tiles(seqs, light=True):
        tiles = list(tiles)
        boxes = prune(select(proposal_table(tiles), cfg), seqs[k], pcfg)
        pairs = candidate_pairs(boxes["type"], boxes["bb_x"], boxes["bb_y"], boxes["siz_x"],
                                boxes["siz_y"], len(seqs[k]))
        fast = allowed_pair_map(tiles, seqs[k], cfg, pcfg)
        assert len(pairs) > 20 and np.array_equal(np.argwhere(fast), pairs)
    with pytest.raises(ValueError, match="geometry only"):
        allowed_pair_map([], "ACGU", cfg, PruneConfig(min_prob=0.1))


def test_recall_exact_overlap_and_counts():
    true = [Box("stem", 0, 20, 4, 4), Box("hloop", 3, 17, 15, 15), Box("stem", 30, 40, 2, 2)]
    props = box_table([("stem", 0, 20, 4, 4), ("stem", 1, 19, 3, 3), ("hloop", 3, 17, 15, 15),
                       ("stem", 31, 40, 2, 2), ("iloop", 5, 9, 3, 3)])
    props["n_proposal_norm_sm"] = np.array([0.5, 0.9, 0.05, 0.3, 0.9])
    props["n_proposal_norm_sl"] = np.zeros(5)
    props["p_on_max"] = np.array([0.05, 0.8, 0.9, 0.2, 0.9])
    s = score_sequence(true, props, hloop_factor=0.5)
    assert s["exact_n"].tolist() == [0.5, 0.1, -1.0]  # hairpin 0.05 / 0.5
    assert s["overlap_n"].tolist() == [0.9, 0.1, -1.0]  # 3x3 inside 4x4: IoU 9/16
    scores = join_scores([s, score_sequence([Box("stem", 0, 9, 2, 2)], box_table([("stem", 0, 9, 2, 2)]))])
    row = summarize(scores, "n_proposal", 0.2, 0.1)
    assert row["sens_stem"] == pytest.approx(2 / 3) and row["sens_hloop"] == 0.0
    assert row["all_found"] == 0.5  # the second sequence's one box is found (score 1.0)
    assert row["proposals_per_seq"] == pytest.approx(5 / 2)  # 0.5 0.9 0.3 0.9 + 1.0 pass
    assert row["proposals_per_true_box"] == pytest.approx(5 / 4)
    row = summarize(scores, "union", 0.2, 0.1)
    assert row["sens_hloop"] == 1.0 and row["sens_stem"] == pytest.approx(2 / 3)
    # a budget of 0.5 per nt on a 4-nt sequence: its 2 best by n_score, 0.9 and 0.9 (rows 1
    # and 4); the exact match (0.5) is third, the 3x3 overlap (row 1) first
    s = score_sequence(true, props, hloop_factor=0.5, length=4)
    assert s["prop_rank"].tolist() == [2, 0, 4, 3, 1]
    assert s["exact_rank"].tolist() == [2, 4, 5] and s["overlap_rank"].tolist() == [0, 4, 5]
    row = summarize(join_scores([s]), "n_proposal", 0.0, 1.0, per_nt=0.5)
    assert row["sens_stem"] == 0.0 and row["sens_stem_overlap"] == 0.5 and row["proposals_per_seq"] == 2
    unlimited = summarize(join_scores([s]), "n_proposal", 0.0, 1.0)
    roomy = summarize(join_scores([s]), "n_proposal", 0.0, 1.0, per_nt=100)
    assert roomy.keys() == unlimited.keys()
    for k in unlimited:  # no iloop is true: its sensitivities are NaN in both
        if k != "per_nt":
            assert roomy[k] == unlimited[k] or (np.isnan(roomy[k]) and np.isnan(unlimited[k])), k


def test_check_sequences_errors_name_the_record():
    assert check_sequences(["acgt"], ["r1"], "x.fa") == ["ACGU"]
    with pytest.raises(InputError, match="x.fa: record r2: invalid base 'X'"):
        check_sequences(["ACGU", "ACXU"], ["r1", "r2"], "x.fa")
    with pytest.raises(InputError, match="longer than the"):
        check_sequences(["A" * 20_001], ["big"], "x.fa")


# ---------------------------------------------------------------------------------------------
# command line, with the bundled model


@pytest.fixture(scope="module")
def folded_fasta(tmp_path_factory):
    import RNA

    path = tmp_path_factory.mktemp("infer") / "folds.fa"
    with open(path, "w") as fh:
        for k, s in enumerate(random_seqs(12, 25, 90, seed=11)):
            fh.write(f">s{k}\n{s}\n{RNA.fold(s)[0]}\n")
    return path


def test_cli_infer_prune_eval(folded_fasta, tmp_path):
    p1, p2, ev = tmp_path / "p1", tmp_path / "p2", tmp_path / "ev"
    r = run_cli("s1-infer", "--fasta", folded_fasta, "--out", p1, "--quiet", "--threshold", "0.1", "--p-on", "0.05")
    assert r.returncode == 0, r.stderr
    from rnastruct.s1.stage import read_proposals

    ids, seqs, tables, tab, manifest = read_proposals(p1)
    assert ids == [f"s{k}" for k in range(12)] and "pairs" in tab.column_names
    assert manifest["kind"] == "rnastruct.s1-infer" and manifest["params"]["threshold"] == 0.1
    assert manifest["counts"]["boxes"] == sum(len(t["type"]) for t in tables) > 0
    r = run_cli("prune", "--in", p1, "--out", p2)
    assert r.returncode == 0, r.stderr
    _, _, pruned, _, m2 = read_proposals(p2)
    assert sum(len(t["type"]) for t in pruned) == m2["counts"]["boxes"]
    assert m2["counts"]["boxes"] + sum(m2["counts"]["dropped"].values()) == manifest["counts"]["boxes"]
    assert m2["counts"]["dropped"]["non_canonical_stem"] > 0
    for seq, t in zip(seqs, pruned):
        assert (prune_reasons(t, seq, PruneConfig()) == "").all()
    r = run_cli("s1-eval", "--in", p2, "--out", ev)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in ev.iterdir()} == {"summary.csv", "curves.csv", "curves.png", "summary.md"}
    import csv

    rows = list(csv.DictReader(open(ev / "summary.csv")))
    assert [r["method"] for r in rows] == ["n_proposal", "p_on", "union"]
    assert all(0 <= float(r["sens_stem"]) <= 1 for r in rows)
    assert float(rows[2]["sens_stem"]) >= max(float(rows[0]["sens_stem"]), float(rows[1]["sens_stem"]))
    curves = list(csv.DictReader(open(ev / "curves.csv")))
    assert min(float(r["threshold"]) for r in curves if r["method"] == "n_proposal") >= 0.1
    r = run_cli("s1-eval", "--in", p2, "--out", ev)
    assert r.returncode == 2 and "--overwrite" in r.stderr
    # proposals filtered above the whole threshold grid: a summary, the budget curve only, and a reason
    high, ev_high = tmp_path / "high", tmp_path / "ev_high"
    r = run_cli("s1-infer", "--fasta", folded_fasta, "--out", high, "--quiet", "--threshold", "1.5",
                "--p-on", "0.95", "--method", "union")
    assert r.returncode == 0, r.stderr
    r = run_cli("s1-eval", "--in", high, "--out", ev_high)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "no threshold curves" in r.stderr
    assert {p.name for p in ev_high.iterdir()} == {"summary.csv", "curves.csv", "curves.png", "summary.md"}
    assert {r["method"] for r in csv.DictReader(open(ev_high / "curves.csv"))} == {"union"}


def test_cli_vote_budget_eval(folded_fasta, tmp_path):
    import csv
    import math

    from rnastruct.s1.stage import read_proposals

    votes, pruned, ev = tmp_path / "votes", tmp_path / "pruned", tmp_path / "ev"
    r = run_cli("s1-infer", "--fasta", folded_fasta, "--out", votes, "--quiet", "--method", "vote")
    assert r.returncode == 0, r.stderr
    _, seqs, tables, _, manifest = read_proposals(votes)
    assert manifest["params"]["method"] == "vote" and manifest["params"]["vote_top_k"] == 2
    for t in tables:
        thr = np.where(t["type"] == "hloop", 0.001 * 0.5, 0.001)
        assert len(t["type"]) and (t["vote_norm"] > thr).all()
    r = run_cli("prune", "--in", votes, "--out", pruned, "--max-per-nt", "0.5")
    assert r.returncode == 0, r.stderr
    _, _, kept, _, m2 = read_proposals(pruned)
    assert m2["counts"]["dropped"]["over_budget"] > 0
    for seq, t in zip(seqs, kept):
        assert len(t["type"]) <= math.ceil(0.5 * len(seq))
    r = run_cli("s1-eval", "--in", pruned, "--out", ev)
    assert r.returncode == 0, r.stderr
    assert [row["method"] for row in csv.DictReader(open(ev / "summary.csv"))] == ["vote"]
    curves = list(csv.DictReader(open(ev / "curves.csv")))
    thresholds = [float(c["threshold"]) for c in curves if c["per_nt"] == "nan"]
    assert thresholds and min(thresholds) >= 0.001  # none below what the proposals passed
    budgets = [c for c in curves if c["per_nt"] != "nan"]
    assert [float(c["per_nt"]) for c in budgets] == sorted(float(c["per_nt"]) for c in budgets)
    found = [float(c["sens_stem"]) for c in budgets]
    assert found == sorted(found)  # a larger budget never finds fewer
    r = run_cli("prune", "--in", votes, "--out", tmp_path / "bad", "--max-per-nt", "-1")
    assert r.returncode == 2 and "--max-per-nt" in r.stderr and not (tmp_path / "bad").exists()


def test_proposals_from_before_votes_still_read(folded_fasta, tmp_path):
    import pyarrow.parquet as pq

    from rnastruct.s1.stage import read_proposals

    out = tmp_path / "p"
    assert run_cli("s1-infer", "--fasta", folded_fasta, "--out", out, "--quiet").returncode == 0
    path = out / "segments.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["prop_vote", "prop_vote_norm"]), path)
    _, _, tables, _, _ = read_proposals(out)
    assert all(np.isnan(t["vote_norm"]).all() and len(t["vote"]) == len(t["type"]) for t in tables)
    assert run_cli("s1-eval", "--in", out, "--out", tmp_path / "ev").returncode == 0


def test_cli_infer_errors_leave_nothing(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGU\n>b\nACGZ\n")
    out = tmp_path / "out"
    r = run_cli("s1-infer", "--fasta", bad, "--out", out, "--quiet")
    assert r.returncode == 2 and "record b" in r.stderr and not out.exists()
    r = run_cli("s1-infer", "--fasta", tmp_path / "missing.fa", "--out", out, "--quiet")
    assert r.returncode == 2 and "missing.fa" in r.stderr and not out.exists()
    good = tmp_path / "good.fa"
    good.write_text(">a\nGGGAAACCC\n")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    r = run_cli("s1-infer", "--fasta", good, "--model", junk, "--out", out, "--quiet")
    assert r.returncode == 2 and "junk.pt" in r.stderr and not out.exists()
    r = run_cli("s1-infer", "--fasta", good, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    r = run_cli("s1-eval", "--in", out, "--out", tmp_path / "ev")
    assert r.returncode == 2 and "no true structures" in r.stderr
    r = run_cli("prune", "--in", good, "--out", tmp_path / "p")
    assert r.returncode == 2


def test_cli_plot_pixels(tmp_path):
    out = tmp_path / "px.png"
    r = run_cli("plot", "pixels", "--seq", "GGGGAAACCCCAUAGCAAAAGCUAUGG", "--out", out, "--pixel", "1,9")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run_cli("plot", "pixels", "--seq", "GGGGAAACCCC", "--out", out, "--pixel", "9,2", "--overwrite")
    assert r.returncode == 2 and "upper triangle" in r.stderr


def test_lab_scripts_run_with_the_original_flags(tmp_path):
    """model_utils/ keeps the notebook's commands working (with rnastruct's files)."""
    import subprocess
    import sys

    import pyarrow as pa

    from rnastruct.s1.stage import read_proposals
    from rnastruct.seqio import write_dataset

    repo = Path(__file__).resolve().parents[1]
    seqs = random_seqs(5, 30, 60, seed=21)
    write_dataset(pa.table({"id": [f"q{k}" for k in range(5)], "seq": seqs}), tmp_path / "data",
                  {"kind": "test"})
    r = subprocess.run([sys.executable, repo / "model_utils" / "run_s1_threshold_on_n_proposal.py", "--data",
                        tmp_path / "data", "--threshold", "0.2", "--model", BUNDLED, "--out_file",
                        tmp_path / "pred"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, repo / "model_utils" / "prune_stage_1.py", "--in_file", tmp_path / "pred",
                        "--discard_ns_stem", "--min_hloop_size", "3", "--min_pixel_pred", "0", "--min_prob", "0",
                        "--out_file", tmp_path / "pruned"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    _, _, pred, _, m1 = read_proposals(tmp_path / "pred")
    _, _, pruned, _, m2 = read_proposals(tmp_path / "pruned")
    assert m1["params"]["method"] == "n_proposal" and m1["params"]["threshold"] == 0.2
    assert m2["params"]["discard_ns_stem"] is True and m2["params"]["min_hloop_size"] == 3
    for seq, before, after in zip(seqs, pred, pruned):
        assert set(zip(after["bb_x"].tolist(), after["bb_y"].tolist())) <= set(zip(before["bb_x"].tolist(), before["bb_y"].tolist()))
        assert (prune_reasons(after, seq, PruneConfig()) == "").all()


def test_pixels_notebook_runs(tmp_path, monkeypatch):
    """notebooks/s1_pixels.ipynb: valid, no stored outputs, and runs (as Jupyter would, magics
    aside) on the bundled model, drawing the pixel figure and an s1-eval folder's curves."""
    import csv

    repo = Path(__file__).resolve().parents[1]
    nb = json.loads((repo / "notebooks" / "s1_pixels.ipynb").read_text())
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    rows = [{"method": m, "threshold": t, "p_on": p, "sens_stem": 0.9, "sens_iloop": 0.8, "sens_hloop": 0.7,
             "all_found": 0.5, "proposals_per_true_box": 12.0}
            for m in ("n_proposal", "p_on", "union") for t, p in ((0.1, 0.05), (0.2, 0.1))]
    with open(tmp_path / "curves.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    monkeypatch.chdir(tmp_path)
    ns = {"display": lambda fig: ns.setdefault("shown", fig)}
    for i, c in enumerate(code):
        text = "\n".join(line for line in "".join(c["source"]).splitlines() if not line.startswith("%"))
        exec(compile(text, f"cell {i}", "exec"), ns)
        if i == 0:
            ns["EVAL_DIR"] = str(tmp_path)
    assert len(ns["fig"].axes) >= 4 + 3 * len(ns["PIXELS"])
    assert len(ns["shown"].axes) == 6  # three methods, each with a twin axis
    assert len(ns["proposed"]["type"]) > 0
