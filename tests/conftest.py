# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-wide set-up: the collection is importable and visible to Ansible."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support.collection_path import collections_path  # noqa: E402

COLLECTIONS = collections_path()
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
os.environ['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS
