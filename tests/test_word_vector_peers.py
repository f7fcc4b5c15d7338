"""scripts/peers/word_vectors.py end to end: our cbow_kjv and gensim's CBOW on the whole KJV, the
issue's settings, with words/s and the similarity figures of both (fastText is skipped, with a
message, where the optional `fasttext` package is missing)."""

import re

import pytest
from conftest import run_script


@pytest.mark.slow
def test_peers_script_compares_ours_and_gensim():
    result = run_script(["peers/word_vectors.py", "--only=ours,gensim"], timeout=600)
    rows = {}
    for line in result.stdout.splitlines():
        match = re.match(r"(\w+)\s+([\d.]+)M words/s .*WordSim-353 ρ (-?[\d.]+) \(OOV (\d+)%", line)
        if match:
            rows[match[1]] = (float(match[2]), float(match[3]), int(match[4]))
    assert set(rows) == {"ours", "gensim"}, result.stdout
    for rate, rho, oov in rows.values():
        # Both learn something similarity-like on the same in-vocabulary pairs of WordSim-353.
        assert rate > 0 and rho > 0.05 and oov == rows["gensim"][2]
    assert "effective" in result.stdout  # gensim's words after min_count and subsampling.
