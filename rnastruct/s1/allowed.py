"""The proposal-restricted fold's allowed pairs straight from per-pixel proposals (SPEC sections 5 and 7).

The pairs are those of ``boxes.candidate_pairs(prune(select(decode(...))))``: every pair of a
kept stem, the closing pairs of kept loops, without building the per-box tables (grouping
every pixel's proposal, merging the two methods, pruning row by row, expanding stems pair by
pair), which would take most of the decoder's time outside the network. Most boxes need no grouping:
a box is selected when one of its proposing pixels is confident enough on its own
(``p_on``), or when a single pixel already makes its ``n_proposal_norm`` pass the threshold
(every box smaller than ``1 / threshold`` pixels). Only the remaining pixels are counted per
box; the pruning rules read nothing but the box, so they apply pixel by pixel; and the kept
stems' pairs are marked as runs (``prune.StemPairs``). The result is the same set of pairs
(tested against the per-box path).

THE BOX CONVENTION (see ``rnastruct.boxes``): a box ``(bb_x, bb_y, siz_x, siz_y)`` has its
**top-right** corner at ``(bb_x, bb_y)`` of the L x L map (row = 5' base ``i``, column = 3'
base ``j``, ``i < j``) and covers rows ``bb_x .. bb_x + siz_x - 1``, columns ``bb_y - siz_y +
1 .. bb_y``; sizes include the closing bases; a stem's pairs are ``(bb_x + k, bb_y - k)``.

Pure numpy, no I/O.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .infer import ProposalConfig
from .prune import PruneConfig, StemPairs, geometry_ok
from .targets import PixelProposals, unique_rows


def allowed_pair_map(tiles: Iterable[list[PixelProposals]], seq: str, proposal: ProposalConfig,
                     pruning: PruneConfig) -> np.ndarray:
    """``[L, L]`` bool (upper triangle): the pairs of the boxes that ``proposal`` selects and
    ``pruning`` keeps. ``tiles``: lists of ``targets.pixel_proposals`` parts, each holding every
    proposing pixel of the boxes it holds (the whole map, or one tile of it, as
    ``S1Predictor.pixel_tiles`` yields them). Pruning by pixel counts or probabilities
    (``min_pixel_pred``, ``min_prob``) needs the per-box tables: not supported here."""
    proposal.validate()
    if proposal.method == "vote":
        raise ValueError("allowed_pair_map reads argmax proposals: method 'vote' needs per-box votes")
    if not pruning.geometry_only:
        raise ValueError("allowed_pair_map prunes by geometry only: min_pixel_pred, min_prob and "
                         "max_per_nt must be 0")
    L = len(seq)
    stems, allowed = StemPairs(seq), np.zeros((L, L), dtype=bool)
    stem_x, stem_y, stem_size = [], [], []
    for parts in tiles:
        for part in parts:
            t = part.type
            bx, by, sx, sy = part.bb_x, part.bb_y, part.siz_x, part.siz_y
            ok = geometry_ok(t, bx, by, sx, sy, L)
            if t == "hloop":
                ok &= sx >= pruning.min_hloop_size
            if t == "stem" and pruning.discard_ns_stem:
                idx = np.flatnonzero(ok)
                ok[idx[stems.non_canonical(bx[idx], by[idx], sx[idx])]] = False
            # a pixel that selects its box on its own: confident, or alone enough for its area
            alone = ok & proposal.passes(t, 1 / np.maximum(sx * sy, 1), part.p_on)
            rest = ok & ~alone
            # the other boxes can pass on their pixel count only (none of their pixels reached
            # p_on); a box with a pixel of its own passes anyway, so counting only these
            # pixels decides the rest exactly
            counted, _, counts = unique_rows(np.stack([bx[rest], by[rest], sx[rest], sy[rest]], axis=1))
            counted = counted[proposal.passes(t, counts / (counted[:, 2] * counted[:, 3]),
                                              np.full(len(counts), -np.inf))]
            bx, by, sx, sy = (np.concatenate([v[alone], counted[:, c]]) for c, v in enumerate((bx, by, sx, sy)))
            if t == "stem":
                stem_x.append(bx)
                stem_y.append(by)
                stem_size.append(sx)
                continue
            allowed[bx, by] = True  # a loop's outer closing pair
            if t == "iloop":
                allowed[bx + sx - 1, by - sy + 1] = True  # and an internal loop's inner one
    if stem_x:
        allowed |= stems.covered(np.concatenate(stem_x), np.concatenate(stem_y), np.concatenate(stem_size))
    return allowed
