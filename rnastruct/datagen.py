"""Training data: sample segments of transcripts or gene bodies, fold them, keep the confident ones.

The pipeline, all decided by ``seed`` and therefore identical whatever the number of workers:

1. **Sources**: transcripts of a transcript FASTA (genes from an optional GTF), or gene bodies
   (pre-mRNA, introns included) or spliced transcripts cut from a genome FASTA with a GTF,
   strand-aware.
2. **Candidates**: each gene's sources are tiled into non-overlapping windows (fixed length or
   lengths drawn from a range, random offset from a per-gene RNG). Windows of one gene never
   overlap in the genome, even across isoforms when their exons are known. All candidates are
   shuffled with ``seed``; shard ``k`` of ``n`` takes every n-th one.
3. **Filters**, in candidate order: too many N, soft-masked bases (optional), a sequence seen
   before, then folding with ViennaRNA and the MFE-frequency and minimum-pairs filters.
   Generation stops when ``num_seq`` segments are kept; counts of every rejection reason are
   kept so that ``sampled == kept + sum(rejected)``.

Folding runs in worker processes with a bounded look-ahead; results are consumed in candidate
order, so the rows (and the counts) do not depend on the number of workers.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import multiprocessing as mp
import os
import platform
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

import numpy as np

from .boxes import structure_to_boxes
from .errors import InputError
from .seqio import list_offsets, open_indexed_fasta, pairs_column, read_gtf
from .structure import parse_dot_bracket

SPLITS = ("train", "valid", "test")
REJECT_REASONS = ("too_many_n", "soft_masked", "duplicate", "low_mfe_freq", "too_few_pairs")


@dataclass
class GenerateConfig:
    """Parameters of ``rnastruct generate``; every field is also a YAML key and a CLI flag."""

    fasta: str | None = None  # transcript FASTA: one record per transcript, 5'->3'
    random: int = 0  # instead of a FASTA: this many random sequences (A C G U uniform), all "train"
    genome: str | None = None  # genome FASTA; needs gtf
    gtf: str | None = None  # exon annotation: genes of fasta records, or regions of the genome
    regions: str = "gene"  # with genome: "gene" bodies (introns included) or spliced "transcript"s
    length: str = "64"  # segment length: "64", or a range "20-200" (uniform)
    num_seq: int | None = None  # segments to keep (this shard's share when sharded); None = all
    seed: int = 5555  # decides sampling and shuffling; the same seed gives the same rows
    min_mfe_freq: float = 0.0  # keep segments whose MFE structure has at least this frequency
    mfe_freq_ref_length: int | None = None  # length-aware: threshold = min_mfe_freq ** (len/ref)
    min_pairs: int = 0  # keep segments whose MFE structure has at least this many pairs
    antisense: bool = False  # also sample the reverse complement of every source
    tilings: int = 1  # independent tilings per gene; > 1 gives overlapping windows (more data)
    soft_mask: str = "upper"  # lower-case (repeat) bases: "upper" = use as is, "exclude" = reject
    max_n: int = 0  # reject segments with more N (or IUPAC ambiguity codes) than this
    chroms: list[str] = field(default_factory=list)  # use only these chromosomes (empty = all)
    exclude_chroms: list[str] = field(default_factory=list)  # never use these chromosomes
    split_by: str = "gene"  # "gene" (hash of gene id), "chrom" (lists below) or "none"
    valid_frac: float = 0.05  # split_by gene: share of genes in valid
    test_frac: float = 0.05  # split_by gene: share of genes in test
    valid_chroms: list[str] = field(default_factory=list)  # split_by chrom
    test_chroms: list[str] = field(default_factory=lambda: ["chr1"])  # split_by chrom (original)
    split_seed: int = 5555  # decides the gene split; separate from seed so splits stay put
    only_splits: list[str] = field(default_factory=list)  # sample only genes of these splits
    ens_div: bool = True  # compute ensemble diversity (needs base-pair probabilities, ~1.4x cost)
    dedupe: bool = True  # reject a segment whose sequence was already sampled
    workers: int = 0  # folding processes; 0 = every available core
    shard: int = 0  # this shard's index
    num_shards: int = 1  # number of shards the candidates are dealt into

    def validate(self) -> None:
        if self.random < 0:
            raise InputError(f"random must be >= 0, got {self.random}")
        if self.random:
            given = [k for k in ("fasta", "genome", "gtf") if getattr(self, k)]
            given += [k for k in ("antisense", "chroms", "exclude_chroms", "only_splits") if getattr(self, k)]
            given += ["tilings"] if self.tilings != 1 else []
            if given:
                raise InputError("--random makes its own sequences; these options do not apply: "
                                 + ", ".join(given))
        elif bool(self.fasta) == bool(self.genome):
            raise InputError("give exactly one of --fasta (transcripts), --genome (with --gtf) or --random N")
        if self.genome and not self.gtf:
            raise InputError("--genome needs --gtf to know where the genes are")
        if self.regions not in ("gene", "transcript"):
            raise InputError(f"regions must be 'gene' or 'transcript', got {self.regions!r}")
        self.length_range()
        if self.num_seq is not None and self.num_seq < 1:
            raise InputError(f"num_seq must be >= 1, got {self.num_seq}")
        if not 0 <= self.min_mfe_freq <= 1:
            raise InputError(f"min_mfe_freq must be in [0, 1], got {self.min_mfe_freq}")
        if self.mfe_freq_ref_length is not None and self.mfe_freq_ref_length < 1:
            raise InputError(f"mfe_freq_ref_length must be >= 1, got {self.mfe_freq_ref_length}")
        if self.soft_mask not in ("upper", "exclude"):
            raise InputError(f"soft_mask must be 'upper' or 'exclude', got {self.soft_mask!r}")
        if self.split_by not in ("gene", "chrom", "none"):
            raise InputError(f"split_by must be gene, chrom or none, got {self.split_by!r}")
        if not (0 <= self.valid_frac and 0 <= self.test_frac and self.valid_frac + self.test_frac < 1):
            raise InputError("valid_frac and test_frac must be >= 0 and add up to less than 1")
        if self.split_by == "chrom" and set(self.valid_chroms) & set(self.test_chroms):
            raise InputError("a chromosome cannot be in both valid_chroms and test_chroms")
        bad = sorted(set(self.only_splits) - set(SPLITS))
        if bad:
            raise InputError(f"only_splits: unknown split(s) {bad}; expected some of {list(SPLITS)}")
        if self.num_shards < 1 or not 0 <= self.shard < self.num_shards:
            raise InputError(f"shard must be in [0, {self.num_shards}), got {self.shard}")
        if self.workers < 0:
            raise InputError(f"workers must be >= 0, got {self.workers}")
        if self.tilings < 1:
            raise InputError(f"tilings must be >= 1, got {self.tilings}")
        if self.max_n < 0 or self.min_pairs < 0:
            raise InputError("max_n and min_pairs must be >= 0")

    def length_range(self) -> tuple[int, int]:
        text = str(self.length).strip()
        try:
            lo, hi = (int(x) for x in text.split("-", 1)) if "-" in text else (int(text),) * 2
        except ValueError:
            raise InputError(f"length must be N or MIN-MAX, got {self.length!r}") from None
        if not 1 <= lo <= hi:
            raise InputError(f"length range must satisfy 1 <= MIN <= MAX, got {self.length!r}")
        return lo, hi

    def threshold(self, length: int) -> float:
        """MFE-frequency threshold for a segment of ``length`` nt.

        A fixed threshold keeps mostly short segments (the ensemble grows exponentially with
        length); the length-aware one asks the same frequency per nucleotide as
        ``min_mfe_freq`` asks of a ``mfe_freq_ref_length``-nt segment.
        """
        if self.mfe_freq_ref_length is None:
            return self.min_mfe_freq
        return self.min_mfe_freq ** (length / self.mfe_freq_ref_length)

    def effective_workers(self) -> int:
        if self.workers:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------------
# sources and candidates


class Source(NamedTuple):
    """A sequence to cut segments from.

    ``exons``: ``[E, 2]`` 0-based half-open genomic intervals in transcription order, or None
    when the genome position is unknown (a transcript FASTA without GTF). ``key``: the FASTA
    record to read from; ``genomic``: read the exons from ``key`` (genome) rather than the
    whole record (transcript FASTA). ``antisense``: the reverse complement of that record's
    sequence (then ``strand`` and ``exons`` are already those of the antisense strand).
    """

    source_id: str
    gene_id: str
    chrom: str
    strand: str
    length: int
    exons: np.ndarray | None
    key: str
    genomic: bool
    antisense: bool = False
    random: bool = False  # the random source: segment k is random_sequence(seed, k, length)

    def reverse_complement(self) -> "Source":
        flip = {"+": "-", "-": "+"}.get(self.strand, ".")
        exons = None if self.exons is None else self.exons[::-1].copy()
        return self._replace(source_id=self.source_id + "_antisense", strand=flip, exons=exons,
                             antisense=True)


def load_sources(cfg: GenerateConfig, fa) -> tuple[list[Source], list[str]]:
    """Sources for ``cfg`` from the open FASTA ``fa`` (pyfaidx); also returns warnings."""
    warnings: list[str] = []
    tx = read_gtf(cfg.gtf) if cfg.gtf else None
    sources: list[Source] = []
    if cfg.fasta:
        keys = list(fa.keys())
        if tx is None:
            sources = [Source(k, k, "", ".", len(fa[k]), None, k, False) for k in keys]
            if cfg.split_by == "gene":
                warnings.append(
                    "no --gtf: each FASTA record is its own gene, so isoforms of one gene may "
                    "overlap and land in different splits; give the GTF to group them"
                )
        else:
            by_id = {t.transcript_id: t for t in tx}
            for k in keys:
                t = by_id.get(k)
                if t is None:
                    raise InputError(f"{cfg.fasta}: record {k} has no exons in {cfg.gtf}")
                if t.length != len(fa[k]):
                    raise InputError(
                        f"{cfg.fasta}: record {k} is {len(fa[k])} nt but its exons in {cfg.gtf} "
                        f"add up to {t.length} nt"
                    )
                sources.append(Source(k, t.gene_id, t.chrom, t.strand, t.length, t.exons, k, False))
    else:
        chrom_len = {k: len(fa[k]) for k in fa.keys()}
        for t in tx:  # type: ignore[union-attr]
            if t.chrom not in chrom_len:
                raise InputError(
                    f"{cfg.gtf}: transcript {t.transcript_id} is on chromosome {t.chrom!r}, "
                    f"which {cfg.genome} lacks (it has {', '.join(list(chrom_len)[:5])}...)"
                )
            if t.end > chrom_len[t.chrom]:
                raise InputError(
                    f"{cfg.gtf}: transcript {t.transcript_id} ends at {t.end} on {t.chrom}, "
                    f"beyond its length {chrom_len[t.chrom]} in {cfg.genome}"
                )
        if cfg.regions == "transcript":
            sources = [Source(t.transcript_id, t.gene_id, t.chrom, t.strand, t.length, t.exons,
                              t.chrom, True) for t in tx]  # type: ignore[union-attr]
        else:
            genes: dict[str, list] = {}
            for t in tx:  # type: ignore[union-attr]
                g = genes.setdefault(t.gene_id, [t.chrom, t.strand, t.start, t.end])
                g[2], g[3] = min(g[2], t.start), max(g[3], t.end)
            for gid, (chrom, strand, a, b) in sorted(genes.items()):
                sources.append(Source(gid, gid, chrom, strand, b - a, np.array([[a, b]]), chrom, True))
    if cfg.antisense:
        sources += [s.reverse_complement() for s in sources]
    if cfg.chroms or cfg.exclude_chroms or cfg.split_by == "chrom":
        if any(s.exons is None for s in sources):
            raise InputError("chromosome filters and split_by chrom need --gtf with --fasta")
        keep, drop = set(cfg.chroms), set(cfg.exclude_chroms)
        sources = [s for s in sources if (not keep or s.chrom in keep) and s.chrom not in drop]
        if not sources:
            raise InputError("no source sequence is left after the chromosome filters")
    if cfg.only_splits:
        # held-out sets without folding the other 90%: the split is a function of the gene alone
        sources = [s for s in sources if split_of(s, cfg) in cfg.only_splits]
        if not sources:
            raise InputError(f"no gene falls in the split(s) {cfg.only_splits}")
    return sources, warnings


_ACGU = np.frombuffer(b"ACGU", dtype=np.uint8)


def random_source_and_candidates(cfg: GenerateConfig) -> tuple[list[Source], np.ndarray]:
    """The random source and its ``[cfg.random, 3]`` candidate rows (0, k, length): candidate k
    is ``random_sequence(cfg.seed, k, length)``, the same whatever the shard or worker count."""
    lo, hi = cfg.length_range()
    lengths = _rng(cfg.seed, "random lengths").integers(lo, hi + 1, size=cfg.random)
    cand = np.stack([np.zeros(cfg.random, np.int64), np.arange(cfg.random), lengths], axis=1)
    return [Source("random", "random", "", ".", hi, None, "", False, random=True)], cand


def random_sequence(seed: int, k: int, length: int) -> str:
    """Random sequence number ``k`` of a run with ``seed``: ``length`` bases, A C G U uniform.
    The original's 2020 models trained on such sequences: folding rules are the same there."""
    return _ACGU[_rng(seed, "random", k).integers(0, 4, size=length)].tobytes().decode("ascii")


def transcript_to_genome(src: Source, a: int, b: int) -> list[tuple[int, int]]:
    """Source coordinates ``[a, b)`` -> genomic half-open intervals, in transcription order."""
    pieces = []
    offset = 0
    for g0, g1 in src.exons:  # type: ignore[union-attr]
        n = int(g1 - g0)
        lo, hi = max(a, offset), min(b, offset + n)
        if lo < hi:
            if src.strand == "-":
                pieces.append((int(g1) - (hi - offset), int(g1) - (lo - offset)))
            else:
                pieces.append((int(g0) + lo - offset, int(g0) + hi - offset))
        offset += n
    return pieces


def _rng(*keys) -> np.random.Generator:
    words = [k if isinstance(k, int) else zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(words)


def _tile(length: int, lo: int, hi: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows ``(starts, lengths)`` covering a sequence of ``length``."""
    if length < lo:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    offset = int(rng.integers(0, min(lo, length - lo) + 1))
    n = (length - offset) // lo + 1
    lens = rng.integers(lo, hi + 1, size=n) if hi > lo else np.full(n, lo)
    starts = offset + np.concatenate([[0], np.cumsum(lens[:-1])])
    ok = starts + lens <= length
    return starts[ok], lens[ok]


def make_candidates(sources: list[Source], cfg: GenerateConfig) -> np.ndarray:
    """All candidate windows, shuffled: ``[N, 3]`` rows of (source index, start, length).

    Within one tiling, windows of one gene (and strand) never overlap in the genome: with known
    exons, a window is dropped when any of its genomic bases is already covered by an earlier
    window of the same gene, so isoforms add no near-duplicates. Windows of different tilings
    (``cfg.tilings > 1``) overlap by design; identical ones are caught by the dedupe filter.
    """
    lo, hi = cfg.length_range()
    if max(s.length for s in sources) < lo:
        raise InputError(
            f"length {cfg.length} is longer than every source sequence "
            f"(the longest is {max(s.length for s in sources)} nt)"
        )
    groups: dict[tuple[str, bool], list[int]] = collections.defaultdict(list)
    for k, s in enumerate(sources):
        groups[(s.gene_id, s.antisense)].append(k)
    rows = []
    for tiling in range(cfg.tilings):
        for gene, antisense in sorted(groups):
            members = groups[(gene, antisense)]
            rng = _rng(cfg.seed, gene, int(antisense), tiling)
            order = [members[k] for k in rng.permutation(len(members))]
            track = len(order) > 1 and sources[order[0]].exons is not None
            if track:
                lo_g = min(int(sources[k].exons.min()) for k in order)  # type: ignore[union-attr]
                hi_g = max(int(sources[k].exons.max()) for k in order)  # type: ignore[union-attr]
                used = np.zeros(hi_g - lo_g, dtype=bool)
            for k in order:
                starts, lens = _tile(sources[k].length, lo, hi, rng)
                for a, n in zip(starts.tolist(), lens.tolist()):
                    if track:
                        pieces = transcript_to_genome(sources[k], a, a + n)
                        if any(used[g0 - lo_g : g1 - lo_g].any() for g0, g1 in pieces):
                            continue
                        for g0, g1 in pieces:
                            used[g0 - lo_g : g1 - lo_g] = True
                    rows.append((k, a, n))
    cand = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    return cand[_rng(cfg.seed, "shuffle").permutation(len(cand))]


def split_of(src: Source, cfg: GenerateConfig) -> str:
    """The split of every segment of ``src``: decided by its gene (hash) or chromosome alone,
    so that a gene can never be in two splits."""
    if cfg.split_by == "none" or src.random:
        return "train"  # random sequences are training data only: validate on held-out genes
    if cfg.split_by == "chrom":
        if src.chrom in cfg.test_chroms:
            return "test"
        return "valid" if src.chrom in cfg.valid_chroms else "train"
    h = hashlib.blake2b(f"{cfg.split_seed}:{src.gene_id}".encode(), digest_size=8).digest()
    u = int.from_bytes(h, "big") / 2.0**64
    if u < cfg.test_frac:
        return "test"
    return "valid" if u < cfg.test_frac + cfg.valid_frac else "train"


# ---------------------------------------------------------------------------------------------
# reading and checking segment sequences

_COMPLEMENT = bytes.maketrans(b"ACGTUNacgtunRYKMSWBDHVrykmswbdhv", b"TGCAANtgcaanYRMKSWVHDByrmkswvhdb")
_CLASS = np.zeros(256, dtype=np.int8) - 1  # -1 invalid, 0 base, 1 N/ambiguous
for _c in b"ACGTUacgtu":
    _CLASS[_c] = 0
for _c in b"NRYKMSWBDHVnrykmswbdhv":
    _CLASS[_c] = 1
_LOWER = np.zeros(256, dtype=bool)
_LOWER[np.frombuffer(b"acgtunrykmswbdhv", np.uint8)] = True
_TO_RNA = bytes.maketrans(b"acgtuTtRYKMSWBDHVrykmswbdhv", b"ACGUUUUNNNNNNNNNNNNNNNNNNNN")


def fetch_segment(fa, src: Source, a: int, b: int) -> str:
    """Raw segment ``[a, b)`` of ``src`` in transcription orientation (case kept)."""
    if not src.genomic:
        if src.antisense:
            return str(fa[src.key][src.length - b : src.length - a]).translate(_COMPLEMENT)[::-1]
        return str(fa[src.key][a:b])
    parts = []
    for g0, g1 in transcript_to_genome(src, a, b):
        s = str(fa[src.key][g0:g1])
        parts.append(s.translate(_COMPLEMENT)[::-1] if src.strand == "-" else s)
    return "".join(parts)


def check_segment(raw: str) -> tuple[str, int, int]:
    """-> (RNA sequence in ACGUN, number of N/ambiguous bases, number of lower-case bases).

    Raises ValueError with the 0-based offset of the first character that is no nucleotide.
    """
    b = np.frombuffer(raw.encode("latin-1", errors="replace"), dtype=np.uint8)
    cls = _CLASS[b]
    if (cls < 0).any():
        raise ValueError(int(np.flatnonzero(cls < 0)[0]))
    return raw.translate(_TO_RNA), int((cls == 1).sum()), int(_LOWER[b].sum())


def validate_sources(fa, sources: list[Source], fasta_name: str) -> None:
    """Check every base the sources can sample before any folding starts, so a bad character
    fails the run at once with its record and 1-based position."""
    regions = {}
    for s in sources:
        if s.genomic:
            for g0, g1 in s.exons:  # type: ignore[union-attr]
                regions.setdefault(s.key, []).append((int(g0), int(g1)))
        else:
            regions[s.key] = [(0, s.length)]
    for key, spans in regions.items():
        spans.sort()
        merged: list[list[int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        for a, b in merged:
            for c0 in range(a, b, 1 << 24):  # bounded memory on whole chromosomes
                c1 = min(b, c0 + (1 << 24))
                raw = str(fa[key][c0:c1])
                try:
                    check_segment(raw)
                except ValueError as e:
                    k = e.args[0]
                    raise InputError(
                        f"{fasta_name}, record {key}: invalid character {raw[k]!r} at position "
                        f"{c0 + k + 1}"
                    ) from None


# ---------------------------------------------------------------------------------------------
# folding workers


def fold_batch(seqs: list[str], ens_div: bool) -> list[tuple]:
    """Fold each sequence -> (structure, mfe, mfe_freq, ens_div, pairs [P, 2], box tuples)."""
    from .folding import fold

    out = []
    for s in seqs:
        f = fold(s, partition=True, ens_div=ens_div)
        pairs = parse_dot_bracket(f.structure)
        out.append((f.structure, f.mfe, f.mfe_freq, f.ens_div, pairs,
                    [tuple(b) for b in structure_to_boxes(pairs, len(s))]))
    return out


class _Item(NamedTuple):
    cand: int  # index into the candidate array
    reject: str | None  # reason when rejected before folding
    seq: str | None  # sequence to fold


def _prefold_items(cfg, fa, sources, cand) -> Iterator[_Item]:
    seen: set[bytes] = set()
    for k in range(len(cand)):
        src = sources[cand[k, 0]]
        a, n = int(cand[k, 1]), int(cand[k, 2])
        raw = random_sequence(cfg.seed, a, n) if src.random else fetch_segment(fa, src, a, a + n)
        seq, n_amb, n_lower = check_segment(raw)  # validated up front
        if n_amb > cfg.max_n:
            yield _Item(k, "too_many_n", None)
            continue
        if cfg.soft_mask == "exclude" and n_lower:
            yield _Item(k, "soft_masked", None)
            continue
        if cfg.dedupe:
            h = hashlib.blake2b(seq.encode(), digest_size=16).digest()
            if h in seen:
                yield _Item(k, "duplicate", None)
                continue
            seen.add(h)
        yield _Item(k, None, seq)


def _batches(items: Iterator[_Item], nt_per_batch: int) -> Iterator[list[_Item]]:
    batch, nt = [], 0
    for it in items:
        batch.append(it)
        nt += len(it.seq) if it.seq else 0
        if nt >= nt_per_batch:
            yield batch
            batch, nt = [], 0
    if batch:
        yield batch


def _fold_stream(batches, pool, workers: int, ens_div: bool):
    """Yield ``(batch, fold results)`` in order, folding at most ``2 * workers`` batches ahead
    (bounded memory, and little wasted work once the target is reached)."""
    if pool is None:
        for batch in batches:
            yield batch, fold_batch([it.seq for it in batch if it.seq], ens_div)
        return
    pending: collections.deque = collections.deque()
    for batch in batches:
        seqs = [it.seq for it in batch if it.seq]
        pending.append((batch, pool.apply_async(fold_batch, (seqs, ens_div))))
        if len(pending) >= 2 * workers:
            b, res = pending.popleft()
            yield b, res.get()
    while pending:
        b, res = pending.popleft()
        yield b, res.get()


def make_pool(workers: int):
    """A process pool, or a null context (``None``) for one worker: folding in-process is
    fastest there.

    It is made before the progress bar and before any file is opened, so fork copies no thread
    and no file handle, and starts in milliseconds where spawn would re-import everything.
    """
    if workers == 1:
        return contextlib.nullcontext()
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return mp.get_context(method).Pool(workers)


# ---------------------------------------------------------------------------------------------
# the whole run


def generate(cfg: GenerateConfig, progress: bool = True):
    """Run the generator -> ``(pyarrow.Table, manifest dict)``. Raises InputError on bad input
    or when no segment passes the filters."""
    import pyarrow as pa

    cfg.validate()
    started = time.time()
    workers = cfg.effective_workers()
    with make_pool(workers) as pool:
        if cfg.random:
            fasta_path, fa, warnings = "random sequences", None, []
            sources, cand_all = random_source_and_candidates(cfg)
        else:
            fasta_path = cfg.fasta or cfg.genome
            fa = open_indexed_fasta(fasta_path)
            sources, warnings = load_sources(cfg, fa)
            validate_sources(fa, sources, fasta_path)
            cand_all = make_candidates(sources, cfg)
        cand = cand_all[cfg.shard :: cfg.num_shards]
        if len(cand) == 0:
            raise InputError(f"no candidate segments of length {cfg.length} in {fasta_path}")
        items = _prefold_items(cfg, fa, sources, cand)
        # ~16 segments of 64 nt per task: IPC stays negligible, and few tasks are folded in
        # vain once the target is reached.
        stream = _fold_stream(_batches(items, nt_per_batch=1024), pool, workers, cfg.ens_div)
        try:
            cols, counts, sampled = _consume(stream, cfg, sources, cand, progress)
        finally:
            stream.close()
    kept = len(cols["id"])
    if kept == 0:
        raise InputError(
            f"no segment passed the filters ({sampled} sampled: "
            + ", ".join(f"{k} {v}" for k, v in counts.items() if v) + ")"
        )
    if cfg.num_seq and kept < cfg.num_seq:
        warnings.append(f"only {kept} of the {cfg.num_seq} requested segments passed the "
                        f"filters: every candidate was used")
    for w in warnings:
        print(f"rnastruct generate: warning: {w}", file=sys.stderr)
    table = pa.table(_arrow_columns(cols))
    manifest = build_manifest(run_params(cfg), table, counts, sampled, len(cand_all), len(cand),
                              workers, time.time() - started, warnings)
    return table, manifest


def _consume(stream, cfg: GenerateConfig, sources, cand, progress: bool):
    """Apply the filters in candidate order until ``num_seq`` are kept -> (columns, rejection
    counts, number sampled)."""
    from tqdm import tqdm

    counts = collections.Counter({r: 0 for r in REJECT_REASONS})
    cols: dict[str, list] = collections.defaultdict(list)
    splits = [split_of(s, cfg) for s in sources]
    target = cfg.num_seq
    sampled = kept = 0
    with tqdm(total=target or len(cand), unit="seg", desc="kept" if target else "sampled",
              disable=not progress, dynamic_ncols=True, mininterval=0.5) as bar:
        for batch, results in stream:
            res = iter(results)
            for it in batch:
                sampled += 1
                if it.reject:
                    counts[it.reject] += 1
                else:
                    structure, mfe, freq, div, pairs, boxes = next(res)
                    if freq < cfg.threshold(len(it.seq)):
                        counts["low_mfe_freq"] += 1
                    elif len(pairs) < cfg.min_pairs:
                        counts["too_few_pairs"] += 1
                    else:
                        kept += 1
                        _add_row(cols, sources, splits, cand[it.cand], it.seq, structure, mfe,
                                 freq, div, pairs, boxes)
                        if target:
                            bar.update(1)
                if not target:
                    bar.update(1)
                if target and kept >= target:
                    return cols, counts, sampled
            bar.set_postfix(sampled=sampled, refresh=False)
    return cols, counts, sampled


def _add_row(cols, sources, splits, cand_row, seq, structure, mfe, freq, div, pairs, boxes):
    k, a, n = (int(x) for x in cand_row)
    src = sources[k]
    if src.exons is not None:
        pieces = transcript_to_genome(src, a, a + n)
        g0, g1 = min(p[0] for p in pieces), max(p[1] for p in pieces)
    else:
        g0 = g1 = -1
    cols["id"].append(f"random_{a}" if src.random else f"{src.source_id}:{a}-{a + n}")
    cols["source_id"].append(src.source_id)
    cols["gene_id"].append(f"random_{a}" if src.random else src.gene_id)
    cols["chrom"].append(src.chrom)
    cols["strand"].append(src.strand)
    cols["start"].append(g0)
    cols["end"].append(g1)
    cols["src_start"].append(a)
    cols["src_end"].append(a + n)
    cols["split"].append(splits[k])
    cols["len"].append(n)
    cols["seq"].append(seq)
    cols["structure"].append(structure)
    cols["pairs"].append(pairs)
    cols["mfe"].append(mfe)
    cols["mfe_freq"].append(freq)
    cols["ens_div"].append(div)
    cols["boxes"].append(boxes)


_BOX_FIELDS = (("type", "string"), ("bb_x", "int32"), ("bb_y", "int32"), ("siz_x", "int32"),
               ("siz_y", "int32"), ("pseudoknot", "bool_"))


def _arrow_columns(cols) -> dict:
    """Columns -> pyarrow arrays; the nested columns are built from flat buffers, which is
    several times faster than letting pyarrow walk Python lists of dicts."""
    import pyarrow as pa

    pairs = cols.pop("pairs")
    boxes = cols.pop("boxes")
    types = {"start": pa.int64(), "end": pa.int64(), "src_start": pa.int64(), "src_end": pa.int64(),
             "len": pa.int32(), "mfe": pa.float64(), "mfe_freq": pa.float64(), "ens_div": pa.float64()}
    out = {k: pa.array(v, type=types.get(k, pa.string())) for k, v in cols.items()}
    out["pairs"] = pairs_column(pairs)
    out["boxes"] = boxes_column(boxes)
    return out


def boxes_column(boxes: list[list[tuple]]):
    """Per-row box tuples ``(type, bb_x, bb_y, siz_x, siz_y, pseudoknot)`` -> the ``boxes``
    list-of-struct column of every dataset, built from flat buffers."""
    import pyarrow as pa

    box_cols = list(zip(*(b for row in boxes for b in row))) or [()] * len(_BOX_FIELDS)
    struct = pa.StructArray.from_arrays(
        [pa.array(c, type=getattr(pa, t)()) for c, (_, t) in zip(box_cols, _BOX_FIELDS)],
        names=[n for n, _ in _BOX_FIELDS])
    return pa.ListArray.from_arrays(list_offsets([len(b) for b in boxes]), struct)


def versions() -> dict:
    """Versions of everything that can change the output (read without importing them)."""
    from importlib.metadata import version

    from ._version import __version__
    from .folding import VIENNARNA_VERSION

    return {"rnastruct": __version__, "viennarna": VIENNARNA_VERSION, "python": platform.python_version(),
            **{name: version(name) for name in ("numpy", "pyarrow", "pyfaidx")}}


def run_params(cfg: GenerateConfig) -> dict:
    """The parameters that decide the output (all but ``workers``)."""
    params = dataclasses.asdict(cfg)
    params.pop("workers")
    return params


def build_manifest(params, table, counts, sampled, n_all, n_shard, workers, seconds, warnings) -> dict:
    split_col = table.column("split").to_pylist()
    lens = np.asarray(table.column("len").to_pylist())
    return {
        "kind": "rnastruct.generate",
        "params": params,
        "versions": versions(),
        "counts": {
            "candidates_total": n_all,
            "candidates_in_shard": n_shard,
            "sampled": sampled,
            "kept": table.num_rows,
            "rejected": dict(counts),
            "splits": {s: split_col.count(s) for s in SPLITS},
            "length_min": int(lens.min()),
            "length_max": int(lens.max()),
            "length_mean": float(lens.mean()),
        },
        "run": {"workers": workers, "seconds": round(seconds, 2), "argv": sys.argv,
                "host": platform.node(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        "warnings": warnings,
    }


# ---------------------------------------------------------------------------------------------
# merging shards


def group_shards(datasets: list[tuple], allow_partial: bool = False) -> tuple[dict, dict, list[int]]:
    """Shards ``[(table, manifest), ...]`` of one sharded run -> ``({shard: (table, manifest)},
    the shared parameters, missing shard indices)``. Every shard's parameters must be the same
    but for ``shard``; each shard once; all present unless ``allow_partial``."""
    ref: dict | None = None
    by_shard: dict[int, tuple] = {}
    for k, (table, man) in enumerate(datasets):
        p = dict(man["params"])
        shard = p.pop("shard")
        if ref is None:
            ref = p
        elif p != ref:
            diff = sorted(key for key in set(p) | set(ref) if p.get(key) != ref.get(key))
            raise InputError(f"input {k + 1}: made with different parameters ({', '.join(diff)})")
        if shard in by_shard:
            raise InputError(f"input {k + 1}: shard {shard} given twice")
        by_shard[shard] = (table, man)
    if ref is None:
        raise InputError("merge needs at least one dataset")
    missing = sorted(set(range(ref["num_shards"])) - set(by_shard))
    if missing and not allow_partial:
        raise InputError(f"missing shard(s) {', '.join(map(str, missing))} of {ref['num_shards']}")
    return by_shard, ref, missing


def merge(datasets: list[tuple], allow_partial: bool = False):
    """Join shard datasets ``[(pyarrow.Table, manifest), ...]`` -> ``(table, manifest)``.

    All shards must come from one run (same parameters but the shard index); each shard once;
    all shards present unless ``allow_partial``. Rows are ordered by shard; a sequence already
    in an earlier shard is dropped and counted as a duplicate.
    """
    import pyarrow as pa

    if not datasets:
        raise InputError("merge needs at least one dataset")
    for k, (_, man) in enumerate(datasets):
        if man.get("kind") != "rnastruct.generate":
            raise InputError(f"input {k + 1}: not a shard written by rnastruct generate")
    by_shard, ref, missing = group_shards(datasets, allow_partial)
    tables, seen, dup = [], set(), 0
    counts = collections.Counter()
    sampled = 0
    for shard in sorted(by_shard):
        table, man = by_shard[shard]
        seqs = table.column("seq").to_pylist()
        keep = np.ones(len(seqs), dtype=bool)
        for i, s in enumerate(seqs):
            if s in seen:
                keep[i] = False
            seen.add(s)
        dup += int((~keep).sum())
        tables.append(table.filter(pa.array(keep)))
        counts.update(man["counts"]["rejected"])
        sampled += man["counts"]["sampled"]
    counts["duplicate"] += dup
    merged = pa.concat_tables(tables)
    first = by_shard[min(by_shard)][1]
    params = dict(first["params"])
    params["shard"] = None
    manifest = build_manifest(params, merged, counts, sampled,
                              first["counts"]["candidates_total"],
                              sum(m["counts"]["candidates_in_shard"] for _, m in by_shard.values()),
                              None, sum(m["run"]["seconds"] for _, m in by_shard.values()),
                              [w for _, m in by_shard.values() for w in m.get("warnings", [])])
    manifest["merged_shards"] = sorted(by_shard)
    manifest["missing_shards"] = missing
    return merged, manifest


