"""The suite's own layout: every test file can be collected in one run.

pytest's default import mode imports each test file by its base name (see
pytest.ini), so two files with the same base name in different folders stop the
whole run at collection ("import file mismatch"), which a run of one folder at a
time does not show.
"""

import collections
import pathlib

TESTS = pathlib.Path(__file__).resolve().parents[1]


def test_test_file_base_names_are_unique_across_folders():
    by_name = collections.defaultdict(list)
    for path in TESTS.rglob('test_*.py'):
        if 'output' in path.relative_to(TESTS).parts[:1]:
            continue
        by_name[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert not clashes, (
        'rename one of each pair; pytest imports test files by base name: %s' % clashes)
