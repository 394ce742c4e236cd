"""Every command of the README with a wrong value for each option: one line on stderr naming
the option (or the file) and the value, exit status 2, nothing written. In-process
(``cli.main``), so the table runs in seconds."""

import pytest

from rnastruct.cli import main

SEQ = "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA"

# (command line, what the one line must name); {d} is a temporary folder holding one.fa
# (a FASTA), bad.pt (not a checkpoint), afile (a file), adir/ (a folder)
CASES = [
    # predict
    ("predict {d}/one.fa --format xml", "--format"),
    ("predict {d}/one.fa --model nosuch", "--model nosuch"),
    ("predict {d}/one.fa --s1 {d}/bad.pt", "--s1 {d}/bad.pt"),
    ("predict {d}/one.fa --s1 {d}/missing.pt", "--s1 {d}/missing.pt"),
    ("predict {d}/one.fa --decoder boxes --s2 {d}/bad.pt", "--s2 {d}/bad.pt"),
    ("predict {d}/one.fa --decoder x", "--decoder"),
    ("predict {d}/one.fa --decoding x", "--decoding"),
    ("predict {d}/one.fa --gamma -1", "--gamma -1"),
    ("predict {d}/one.fa --gamma abc", "--gamma"),
    ("predict {d}/one.fa --threshold 2", "--threshold 2"),
    ("predict {d}/one.fa --threshold 0", "--threshold 0"),
    ("predict {d}/one.fa --bpp {d}/afile", "--bpp {d}/afile"),
    ("predict {d}/one.fa --plot {d}/afile", "--plot {d}/afile"),
    ("predict {d}/one.fa --constraint-file {d}/missing.txt", "--constraint-file {d}/missing.txt"),
    ("predict {d}/one.fa --shape {d}/missing.shape", "--shape {d}/missing.shape"),
    ("predict {d}/one.fa --shape-slope nan", "--shape-slope nan"),
    ("predict {d}/one.fa --shape-intercept inf", "--shape-intercept inf"),
    ("predict {d}/one.fa --device tpu", "--device"),
    ("predict {d}/one.fa --precision fp8", "--precision"),
    ("predict {d}/one.fa --threads 0", "--threads 0"),
    ("predict {d}/one.fa --threads two", "--threads"),
    ("predict {d}/one.fa --shard 3 --num-shards 2 --out {d}/p.fa", "--shard 3"),
    ("predict {d}/one.fa --shard 0 --num-shards 0 --out {d}/p.fa", "--num-shards 0"),
    ("predict {d}/one.fa --out {d}/adir", "--out {d}/adir"),
    ("predict {d}/one.fa --out {d}/nodir/p.fa", "--out {d}/nodir/p.fa"),
    ("predict {d}/one.fa --out {d}/afile", "--out {d}/afile"),
    ("predict {d}/missing.fa", "{d}/missing.fa"),
    # generate
    ("generate --random 10 --length abc --out {d}/g", "--length abc"),
    ("generate --random 10 --length 0 --out {d}/g", "--length 0"),
    ("generate --random 10 --length 10-5 --out {d}/g", "--length 10-5"),
    ("generate --random 10 --length 64 --num-seq 0 --out {d}/g", "--num-seq 0"),
    ("generate --random 10 --length 64 --seed x --out {d}/g", "--seed"),
    ("generate --random 10 --length 64 --min-mfe-freq 2 --out {d}/g", "--min-mfe-freq 2"),
    ("generate --random 10 --length 64 --mfe-freq-ref-length 0 --out {d}/g", "--mfe-freq-ref-length 0"),
    ("generate --random 10 --length 64 --min-pairs -1 --out {d}/g", "--min-pairs -1"),
    ("generate --random 10 --length 64 --tilings 0 --out {d}/g", "--tilings 0"),
    ("generate --random 10 --length 64 --max-n -1 --out {d}/g", "--max-n -1"),
    ("generate --random 10 --length 64 --valid-frac 2 --out {d}/g", "--valid-frac 2"),
    ("generate --random 10 --length 64 --test-frac -1 --out {d}/g", "--test-frac -1"),
    ("generate --random 10 --length 64 --workers 0 --out {d}/g", "--workers 0"),
    ("generate --random 10 --length 64 --shard 5 --num-shards 2 --out {d}/g", "--shard 5"),
    ("generate --random -5 --length 64 --out {d}/g", "--random -5"),
    ("generate --random 10 --regions x --out {d}/g", "--regions"),
    ("generate --random 10 --split-by x --out {d}/g", "--split-by"),
    ("generate --random 10 --set nokey=1 --out {d}/g", "nokey"),
    ("generate --config {d}/missing.yaml --out {d}/g", "--config {d}/missing.yaml"),
    ("generate --fasta {d}/missing.fa --out {d}/g", "--fasta {d}/missing.fa"),
    ("generate --random 10 --length 64 --out {d}/afile", "{d}/afile"),
    # s1-train, s2-train
    ("s1-train --config {d}/missing.yaml --data {d}/adir --out {d}/run", "--config {d}/missing.yaml"),
    ("s1-train --data {d}/missing --out {d}/run", "{d}/missing"),
    ("s1-train --data {d}/adir --out {d}/run --device tpu", "--device"),
    ("s2-train --data {d}/missing.npz --out {d}/run", "{d}/missing.npz"),
    # s1-infer, prune, s1-eval, s2-data
    ("s1-infer --fasta {d}/one.fa --out {d}/props --threshold -1", "--threshold -1"),
    ("s1-infer --fasta {d}/one.fa --out {d}/props --p-on 2", "--p-on 2"),
    ("s1-infer --fasta {d}/one.fa --out {d}/props --hloop-factor -1", "--hloop-factor -1"),
    ("s1-infer --fasta {d}/one.fa --out {d}/props --vote-top-k 9", "--vote-top-k 9"),
    ("s1-infer --fasta {d}/one.fa --out {d}/props --vote-min-p-on 2", "--vote-min-p-on 2"),
    ("s1-infer --fasta {d}/one.fa --out {d}/props --vote-threshold -1", "--vote-threshold -1"),
    ("s1-infer --fasta {d}/one.fa --out {d}/props --tile 0", "--tile 0"),
    ("s1-infer --fasta {d}/one.fa --out {d}/props --batch-pixels 0", "--batch-pixels 0"),
    ("s1-infer --fasta {d}/one.fa --out {d}/props --shard 3 --num-shards 2", "--shard 3"),
    ("s1-infer --fasta {d}/one.fa --out {d}/props --model {d}/bad.pt", "--model {d}/bad.pt"),
    ("s1-infer --fasta {d}/missing.fa --out {d}/props", "{d}/missing.fa"),
    ("prune --in {d}/missing --out {d}/pr", "--in {d}/missing"),
    ("prune --in {d}/adir --out {d}/pr --min-hloop-size -1", "--min-hloop-size -1"),
    ("prune --in {d}/adir --out {d}/pr --min-prob 2", "--min-prob 2"),
    ("prune --in {d}/adir --out {d}/pr --max-per-nt -1", "--max-per-nt -1"),
    ("prune --in {d}/adir --out {d}/pr --min-pixel-pred -1", "--min-pixel-pred -1"),
    ("s1-eval --in {d}/missing --out {d}/ev", "--in {d}/missing"),
    ("s2-data --in {d}/missing --out {d}/s2.npz", "--in {d}/missing"),
    ("s2-data --in {d}/adir --out {d}/s2.txt", "--out {d}/s2.txt"),
    ("s2-data --in {d}/adir --out {d}/s2.npz --max-boxes 0", "--max-boxes 0"),
    # tune-energy, tune-assembly, tune-proposals, calibrate, subset
    ("tune-energy --s1 {d}/bad.pt", "--s1 {d}/bad.pt"),
    ("tune-energy --weights -1", "--weights -1"),
    ("tune-energy --valid {d}/missing.csv", "--valid {d}/missing.csv"),
    ("tune-energy --limit 0", "--limit 0"),
    ("tune-energy --workers 0", "--workers 0"),
    ("tune-assembly --data {d}/missing.npz --s2 {d}/bad.pt --out {d}/x.pt", "--data {d}/missing.npz"),
    ("tune-assembly --data {d}/one.fa --s2 {d}/bad.pt --out {d}/x.pt", "--s2 {d}/bad.pt"),
    ("tune-assembly --thresholds 2 --data {d}/one.fa --out {d}/x.pt", "--thresholds 2"),
    ("tune-assembly --energy-weights -1 --data {d}/one.fa --out {d}/x.pt", "--energy-weights -1"),
    ("tune-proposals --data {d}/missing --out {d}/x.pt", "--data {d}/missing"),
    ("tune-proposals --p-on 2 --data {d}/adir --out {d}/x.pt", "--p-on 2"),
    ("calibrate --scales 0", "--scales 0"),
    ("calibrate --write {d}/bad.pt", "--write {d}/bad.pt"),
    ("subset --in {d}/missing --out {d}/s --train 5", "--in {d}/missing"),
    ("subset --in {d}/adir --out {d}/s --train 0", "--train 0"),
    # evaluate, merge, real-data, plot, boxes, inspect
    ("evaluate --pred {d}/missing.fa --ref {d}/one.fa", "--pred {d}/missing.fa"),
    ("evaluate --pred {d}/one.fa --ref {d}/missing.fa", "--ref {d}/missing.fa"),
    ("evaluate --pred {d}/one.fa --ref {d}/one.fa --slip 2", "--slip"),
    ("evaluate --pred {d}/one.fa --ref {d}/one.fa --pseudoknots x", "--pseudoknots"),
    ("evaluate --pred {d}/one.fa --ref {d}/one.fa --out {d}/afile", "--out {d}/afile"),
    ("merge {d}/missing1 {d}/missing2 --out {d}/m", "{d}/missing1"),
    ("merge {d}/afile --out {d}/m", "{d}/afile"),
    ("real-data --train {d}/missing.csv --out {d}/rd", "{d}/missing.csv"),
    ("real-data --train {d}/one.fa --out {d}/rd --kmer -1", "--kmer -1"),
    ("real-data --train {d}/one.fa --out {d}/rd --max-length 0", "--max-length 0"),
    ("real-data --train {d}/one.fa --out {d}/rd --homology-evalue 0", "--homology-evalue 0"),
    ("plot pixels --seq " + SEQ + " --pixel abc --out {d}/px.png", "--pixel abc"),
    ("plot pixels --seq " + SEQ + " --pixel 30,2 --out {d}/px.png", "--pixel 30,2"),
    ("plot pixels --seq GGGXZ --out {d}/px.png", "--seq"),
    ("plot pixels --seq " + SEQ + " --structure ((..)) --out {d}/px.png", "--structure"),
    ("plot pixels --seq " + SEQ + " --out {d}/px.txt", "--out {d}/px.txt"),
    ("plot pixels --seq " + SEQ + " --model {d}/bad.pt --out {d}/px.png", "--model {d}/bad.pt"),
    ("plot metrics {d}/missing --out {d}/m.png", "{d}/missing"),
    ("boxes ((..", "((.."),
    ("inspect {d}/missing", "{d}/missing"),
    ("inspect {d}/adir --rows -1", "--rows -1"),
]


@pytest.fixture
def folder(tmp_path):
    d = tmp_path
    (d / "one.fa").write_text(">a\nGGGGAAAACCCC\n")
    (d / "bad.pt").write_text("not a checkpoint\n")
    (d / "afile").write_text("x\n")
    (d / "adir").mkdir()
    return d


@pytest.mark.parametrize("argv, named", CASES, ids=[c[0].split(" {d}")[0][:60] + f" [{k}]" for k, c in enumerate(CASES)])
def test_a_wrong_value_gets_one_line_naming_the_option(argv, named, folder, capsys):
    before = sorted(p.name for p in folder.rglob("*"))
    try:
        code = main(argv.format(d=folder).split())
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    # the option and its value (argparse puts ": " between them, rnastruct's own checks a space)
    for part in named.format(d=folder).split(" ", 1):
        assert part in lines[0], err
    assert "Traceback" not in err
    assert sorted(p.name for p in folder.rglob("*")) == before  # nothing written
