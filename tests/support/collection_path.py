# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make this checkout importable as ``ansible_collections.spice.streaming``.

The repository root is the collection root, but Python and Ansible find a
collection only under ``<path>/ansible_collections/<namespace>/<name>``.  A
symlink outside the checkout (inside it, tools that walk the tree would loop)
gives that layout without copying anything, so edits are live.

Run as a script it prints the collections path, for shell scripts.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

REPO_ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..'))


def collections_path(repo_root=REPO_ROOT):
    """Return a directory whose ``ansible_collections/spice/streaming`` is ``repo_root``."""
    base = os.environ.get('SPICE_STREAMING_COLLECTIONS')
    if not base:
        digest = hashlib.sha1(repo_root.encode()).hexdigest()[:12]
        base = os.path.join(tempfile.gettempdir(), 'spice.streaming-collections-' + digest)
    namespace_dir = os.path.join(base, 'ansible_collections', 'spice')
    link = os.path.join(namespace_dir, 'streaming')
    os.makedirs(namespace_dir, exist_ok=True)
    if os.path.realpath(link) != repo_root:
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(repo_root, link)
    return base


if __name__ == '__main__':
    print(collections_path())
